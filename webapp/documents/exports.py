"""The Document list exported to Excel and CSV: one row per document, its amounts as numbers.

Amounts are the document's pesos; the signed total is what the list's totals count (a credit note
negative, a guide 0, as it is not summed), with a column that says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from pipeline.dte.kinds import DOC_TYPES, kind_of
from webapp.exports_admin import DATE, DATETIME, DECIMAL, PESOS, ExportMixin, Table, UrlOf, chunked, local

from .admin_claims import STATE_LABELS
from .admin_money import is_foreign
from .models import CheckState, Document, DocumentSource
from .services.claims import claim_state
from .services.printable_requests import printable_offered


def header() -> list[str]:
    return [
        gettext("Type"),
        gettext("Type name"),
        gettext("Folio"),
        gettext("Issuer RUT"),
        gettext("Issuer name"),
        gettext("Receiver RUT"),
        gettext("Issue date"),
        gettext("Mail received"),
        gettext("Received by the SII"),
        gettext("Exempt"),
        gettext("Net"),
        gettext("VAT"),
        gettext("Total"),
        gettext("Signed total"),
        gettext("In the totals"),
        gettext("Currency"),
        gettext("Total in its currency"),
        gettext("Claim state"),
        gettext("Claim deadline"),
        gettext("Deadline estimated"),
        gettext("Electronic stamp (TED)"),
        gettext("Conflicting copies"),
        gettext("Mailbox"),
        gettext("Document page"),
        gettext("XML"),
        gettext("Printable PDF"),
    ]


#: Excel formats by column index (dates written as dates, pesos as numbers).
FORMATS = {
    6: DATE,
    7: DATETIME,
    8: DATETIME,
    **dict.fromkeys(range(9, 14), PESOS),
    16: DECIMAL,
    18: DATETIME,
}


class DocumentExports(ExportMixin):
    export_filename = "documentos"

    def export_table(self, request: HttpRequest, queryset: QuerySet) -> Table:
        return Table(gettext("Documents"), header(), document_rows(request, queryset), FORMATS)


def document_rows(request: HttpRequest, queryset: QuerySet[Document]) -> Iterator[list[Any]]:
    """The rows of `queryset` (the list's own, filtered and ordered), read in chunks: no query per row."""
    rows = queryset.select_related(None).annotate(mail_received_at=_first_arrival(), mailbox_name=F("mailbox__name"))
    row = _DocumentRow(request)
    return (row(document) for document in chunked(rows))


def _first_arrival() -> Subquery:
    """When the first mail that carried the document arrived (a copy's mail may say nothing)."""
    arrivals = DocumentSource.objects.filter(
        document=OuterRef("pk"), attachment__message__received_at__isnull=False
    ).order_by("attachment__message__received_at")
    return Subquery(arrivals.values("attachment__message__received_at")[:1])


class _DocumentRow:
    """One document's values; every text is read once, in the request's language, before any row."""

    def __init__(self, request: HttpRequest) -> None:
        self.counts = {
            +1: gettext("Adds"),
            -1: gettext("Subtracts (credit note)"),
            0: gettext("Not added (dispatch guide)"),
        }
        self.states = {state: str(label) for state, label in STATE_LABELS.items()}
        self.teds = {state.value: str(state.label) for state in CheckState}
        self.yes, self.no = gettext("Yes"), gettext("No")
        self.page = UrlOf(request, "admin:documents_document_change")
        self.xml = UrlOf(request, "documents:xml_download")
        self.printable = UrlOf(request, "documents:printable_download")
        self.now = timezone.now()

    def __call__(self, doc: Any) -> list[Any]:
        sign = kind_of(doc.doc_type).sign
        foreign = is_foreign(doc)
        state = claim_state(doc, self.now)
        estimated = self.yes if doc.claim_deadline_estimated else self.no
        return [
            doc.doc_type,
            doc.type_name or DOC_TYPES.get(doc.doc_type, ""),
            doc.folio,
            doc.issuer_rut,
            doc.issuer_name,
            doc.receiver_rut,
            doc.issue_date,
            local(doc.mail_received_at),
            local(doc.sii_received_at),
            doc.exempt,
            doc.net,
            doc.vat,
            doc.total,
            None if doc.total is None else sign * doc.total,
            self.counts[sign],
            doc.foreign_currency if foreign else "CLP",
            doc.foreign_total if foreign else None,
            self.states[state] if state is not None else "",
            local(doc.claim_deadline),
            estimated if doc.claim_deadline is not None else "",
            self.teds.get(doc.ted, doc.ted),
            self.yes if doc.conflict else self.no,
            doc.mailbox_name,
            self.page(doc.pk),
            self.xml(doc.pk) if doc.xml_attachment_id else "",
            self.printable(doc.pk) if printable_offered(doc) else "",  # made, or made when the link is opened
        ]
