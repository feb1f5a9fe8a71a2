"""Check every copy of every Document again: TED, signature, conflicts and the chosen copy."""

from __future__ import annotations

import json
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from ...services.verification import DocumentCheck, verify_documents


class Command(BaseCommand):
    help = (
        "Parse every copy's stored XML again, check its TED (timbre) and XML signature, and choose each "
        "document's copy again. Prints each document with a problem, then counts; with --json, a list of "
        "every document with its copies. Changes nothing. Exits 1 when a chosen copy's TED is invalid or missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print a JSON list of every document and its copies")

    def handle(self, *args, **options):
        as_json = bool(options.get("json"))
        counts: Counter[str] = Counter()
        if as_json:
            self.stdout.write("[", ending="")
        for index, checked in enumerate(verify_documents()):
            _count(counts, checked)
            if as_json:
                self.stdout.write(("," if index else "") + "\n" + _json(checked), ending="")
            elif checked.problems:
                self._report(checked)
        if as_json:
            self.stdout.write("\n]" if counts["documents"] else "]")
        else:
            self.stdout.write(_summary(counts))
        if counts["ted_fails"]:
            raise CommandError(f"{counts['ted_fails']} document(s) are read from a copy whose TED does not verify")

    def _report(self, checked: DocumentCheck) -> None:
        document = checked.document
        self.stdout.write(
            f"{document.issuer_rut} type {document.doc_type} folio {document.folio} "
            f"(document {document.pk}, mailbox {document.mailbox_id}): {'; '.join(checked.problems)}"
        )
        for copy in checked.copies:
            mark = "chosen" if copy.chosen else "      "
            line = f"  {mark} attachment {copy.attachment_id}: TED {copy.ted}, signature {copy.signature}"
            reasons = [reason for reason in (copy.ted_error, copy.signature_error, copy.unreadable) if reason]
            if reasons:
                line += f" ({'; '.join(reasons)})"
            self.stdout.write(line)


def _count(counts: Counter[str], checked: DocumentCheck) -> None:
    counts["documents"] += 1
    counts["copies"] += len(checked.copies)
    counts[f"ted {checked.ted}"] += 1
    counts[f"signature {checked.signature}"] += 1
    counts["conflicts"] += checked.conflict
    counts["ted_fails"] += checked.ted_fails
    counts["choices changed"] += checked.choice_changed
    counts["with problems"] += bool(checked.problems)
    counts["unreadable copies"] += sum(1 for copy in checked.copies if copy.unreadable)


def _summary(counts: Counter[str]) -> str:
    states = ("valid", "invalid", "missing", "unchecked")
    return "\n".join(
        (
            f"{counts['documents']} documents, {counts['copies']} copies checked; "
            f"{counts['with problems']} with problems",
            "chosen copies' TED: " + ", ".join(f"{counts[f'ted {state}']} {state}" for state in states),
            "chosen copies' signature: " + ", ".join(f"{counts[f'signature {state}']} {state}" for state in states),
            f"{counts['conflicts']} with conflicting copies, {counts['choices changed']} whose chosen copy is "
            f"another one now, {counts['unreadable copies']} copies not read again",
        )
    )


def _json(checked: DocumentCheck) -> str:
    document = checked.document
    return json.dumps(
        {
            "issuer": document.issuer_rut,
            "type": document.doc_type,
            "folio": document.folio,
            "conflict": checked.conflict,
            "signature": str(checked.signature),
            "copies": [
                {
                    "attachment": copy.attachment_id,
                    "mailbox": copy.mailbox_id,
                    "ted": str(copy.ted),
                    "signature": str(copy.signature),
                    "chosen": copy.chosen,
                }
                for copy in checked.copies
            ],
        },
        ensure_ascii=False,
    )
