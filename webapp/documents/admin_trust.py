"""What the admin says of a document's genuineness: its timbre (TED) and XML signature, and its copies.

The list shows a mark a few characters wide, with the whole sentence on hover; the document's page
shows each copy with its checks and what it says, and, when copies disagree, which fields differ.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.fingerprint import SUMMARY_FIELDS
from pipeline.dte.formatting import money
from pipeline.dte.rut import format_rut
from webapp.inbox.admin import EMPTY

from .models import CheckState, Document, DocumentSource

#: A check's state on its own, as the filters offer it.
STATE_LABELS: dict[str, Promise] = {
    CheckState.VALID: _("Valid"),
    CheckState.INVALID: _("Invalid"),
    CheckState.MISSING: _("Missing"),
    CheckState.UNCHECKED: _("Not verified"),  # not "Not checked": that is an unchecked sum's "Sin revisar"
}

#: The timbre's state as a sentence, and the mark the list shows for it.
TED_LABELS: dict[str, Promise] = {
    CheckState.VALID: _("Electronic stamp valid"),
    CheckState.INVALID: _("Electronic stamp invalid"),
    CheckState.MISSING: _("No electronic stamp"),
    CheckState.UNCHECKED: _("Electronic stamp not checked"),
}
TED_MARKS: dict[str, str] = {
    CheckState.VALID: "✓",
    CheckState.INVALID: "✗",
    CheckState.MISSING: "∅",
    CheckState.UNCHECKED: "?",
}

SIGNATURE_LABELS: dict[str, Promise] = {
    CheckState.VALID: _("Signature valid"),
    CheckState.INVALID: _("Signature invalid"),
    CheckState.MISSING: _("No signature"),
    CheckState.UNCHECKED: _("Signature not checked"),
}

#: The timbre states that mean it does not verify: what the dashboard counts and the list filters on.
TED_FAILING = (CheckState.INVALID, CheckState.MISSING)

_AMOUNTS = frozenset({"net", "exempt", "vat", "other_taxes", "total"})
_DATES = frozenset({"issue_date", "due_date"})


def trust_mark(document: Document) -> SafeString:
    """The list's column: ✓ ✗ ∅ ? for the timbre, ⚠ for conflicting copies; the sentences on hover."""
    ted = document.ted if document.ted in TED_MARKS else CheckState.UNCHECKED
    sentences = [str(TED_LABELS[ted]), str(SIGNATURE_LABELS.get(document.signature, ""))]
    conflict = SafeString("")
    if document.conflict:
        sentences.insert(0, gettext("Conflicting copies"))
        conflict = format_html('<span class="trust-conflict">{}</span>', "⚠")
    title = ". ".join(sentence for sentence in sentences if sentence)
    return format_html(
        '<span class="trust trust-{}" title="{}" role="img" aria-label="{}">{}{}</span>',
        ted,
        title,
        title,
        TED_MARKS[ted],
        conflict,
    )


def check_sentence(labels: dict[str, Promise], state: str, problem: str) -> SafeString:
    """A check's state as a sentence, and what went wrong under it."""
    sentence = format_html('<span class="check check-{}">{}</span>', state, labels.get(state, state))
    if not problem:
        return sentence
    return format_html('{}<br><small class="check-problem">{}</small>', sentence, problem)


def content_label(name: str) -> str:
    return str(getattr(Document._meta.get_field(name), "verbose_name", name))


def content_value(name: str, content: dict[str, Any]) -> str:
    """A field of a copy's content (fingerprint.content_summary) as the admin prints it."""
    value = content.get(name)
    if value is None or value == "":
        return EMPTY
    if name in _DATES:
        try:
            return date_format(dt.date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if name in _AMOUNTS:
        try:
            return money(Decimal(str(value)), str(content.get("currency") or "CLP"))
        except InvalidOperation:
            return str(value)
    if name == "receiver_rut":
        return format_rut(str(value))
    return str(value)


def differing_fields(contents: Iterable[dict[str, Any]]) -> list[str]:
    """The fields of SUMMARY_FIELDS on which copies that say what they hold disagree, in that order."""
    said = [content for content in contents if content]
    return [
        name for name in SUMMARY_FIELDS if len({json.dumps(content.get(name), sort_keys=True) for content in said}) > 1
    ]


def copy_content(source: DocumentSource, differing: Sequence[str]) -> SafeString:
    """What one copy says, field by field; the fields in which copies differ marked."""
    if not source.content:
        return SafeString(EMPTY)
    rows = (
        (
            " differs" if name in differing else "",
            content_label(name),
            content_value(name, source.content),
        )
        for name in SUMMARY_FIELDS
    )
    return format_html(
        '<dl class="copy-content">{}</dl>',
        format_html_join("", '<div class="row{}"><dt>{}</dt><dd>{}</dd></div>', rows),
    )


@dataclass(frozen=True)
class CopyColumn:
    label: str
    chosen: bool


@dataclass(frozen=True)
class Comparison:
    """The conflict warning's table: one row per differing field, one value per copy."""

    copies: list[CopyColumn]
    rows: list[tuple[str, list[str]]]


def copy_label(number: int, source: DocumentSource) -> str:
    return gettext("Copy %(number)d (%(name)s)") % {"number": number, "name": source.attachment.filename}


def comparison(sources: Sequence[DocumentSource]) -> Comparison:
    """How the copies `sources` (their attachments fetched) differ; no rows when they do not."""
    said = [(number, source) for number, source in enumerate(sources, start=1) if source.content]
    differing = differing_fields(source.content for _number, source in said)
    copies = [CopyColumn(copy_label(number, source), source.chosen) for number, source in said]
    rows = [(content_label(name), [content_value(name, source.content) for _n, source in said]) for name in differing]
    return Comparison(copies=copies, rows=rows)
