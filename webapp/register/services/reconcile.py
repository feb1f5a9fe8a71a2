"""The SII purchase register beside the documents received: what matches, what differs, what is missing.

Compared per receiver and period, for the (receiver, period) pairs the register holds:

- `matched`: in the register, and a document of that receiver with the same issuer, type and folio was
  received, with the same total (or a total one side does not give);
- `amount_mismatch`: both, with both totals given and different;
- `missing_xml`: in the register, no document received for that receiver: ask the supplier for it;
- `missing_in_rcv`: a document received for that receiver, issued in that period (its issue date's
  YYYY-MM), that the register does not hold in any period. Guides (52) are never in the register.

A user limited to some mailboxes compares their mailboxes' register entries with their mailboxes'
documents; `mailbox_ids=None` compares everything (and register entries imported without a mailbox).
The same SII key in two mailboxes (two Documents, or two imports of one register) counts once: the
first Document (lowest id), the entry updated last. Totals are signed as webapp/documents/totals.py
signs them: a credit note subtracts. Rows are streamed, a fixed number of queries per batch.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import islice
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, TruncMonth
from django.utils.translation import gettext_lazy as _

from pipeline.dte.kinds import codes, kind_of
from webapp.documents.models import Document
from webapp.documents.totals import document_totals

from ..models import RcvEntry

#: Register rows whose documents are read per query.
BATCH = 500
#: Documents of these types are not in the purchase register.
NOT_IN_REGISTER = tuple(codes(sign=0))


class Status(StrEnum):
    MATCHED = "matched"
    AMOUNT_MISMATCH = "amount_mismatch"
    MISSING_XML = "missing_xml"
    MISSING_IN_RCV = "missing_in_rcv"


STATUS_LABELS = {
    Status.MATCHED: _("Matched"),
    Status.AMOUNT_MISMATCH: _("Amounts differ"),
    Status.MISSING_XML: _("No XML received"),
    Status.MISSING_IN_RCV: _("Not in the SII register"),
}


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    receiver_rut: str
    period: str  # YYYY-MM
    issuer_rut: str
    issuer_name: str
    doc_type: int
    folio: int
    status: Status
    #: Signed pesos (a credit note is negative); None when that side has no total, or no document.
    rcv_total: int | None
    xml_total: int | None
    #: The register's issue date, else the document's.
    issue_date: date | None
    #: When the SII received it (the claim deadline runs from it); None when not in the register.
    received_at: datetime | None
    #: The register's list (registro, pendiente…); "" when not in the register.
    register: str
    document_id: int | None

    @property
    def sort_key(self) -> tuple[str, str, str, int, int]:
        return (self.receiver_rut, self.period, self.issuer_rut, self.doc_type, self.folio)


@dataclass(frozen=True, slots=True)
class StatusTotals:
    count: int
    rcv_total: int
    xml_total: int


def reconcile(
    *, mailbox_ids: set[int] | None, receiver_rut: str | None = None, period: str | None = None
) -> Iterator[ReconciliationRow]:
    """Every row of the comparison, ordered by receiver, period, issuer, type and folio."""
    scope = _Scope(mailbox_ids, receiver_rut, period)
    yield from heapq.merge(_register_rows(scope), _unregistered_rows(scope), key=lambda row: row.sort_key)


def reconciliation_totals(
    *, mailbox_ids: set[int] | None, receiver_rut: str | None = None, period: str | None = None
) -> dict[Status, StatusTotals]:
    """Count and signed sums of each status, the register's and the documents' (document_totals)."""
    scope = _Scope(mailbox_ids, receiver_rut, period)
    register_sums = {
        row["status"]: row
        for row in scope.entries_with_status()
        .order_by()
        .values("status")
        .annotate(count=Count("pk"), amount=Coalesce(Sum(_signed_total()), Value(0), output_field=BigIntegerField()))
    }
    documents = {
        Status.MATCHED: scope.matched_documents(same_total=True),
        Status.AMOUNT_MISMATCH: scope.matched_documents(same_total=False),
        Status.MISSING_XML: Document.objects.none(),
        Status.MISSING_IN_RCV: scope.unregistered_documents(),
    }
    totals = {}
    for status, queryset in documents.items():
        summed = document_totals(queryset) if status != Status.MISSING_XML else None
        in_register = register_sums.get(status.value)
        totals[status] = StatusTotals(
            count=in_register["count"] if in_register else (summed.count if summed else 0),
            rcv_total=in_register["amount"] if in_register else 0,
            xml_total=summed.total if summed else 0,
        )
    return totals


def register_choices(*, mailbox_ids: set[int] | None) -> dict[str, list[str]]:
    """The receivers the user's register holds, each with its periods, newest first."""
    choices: dict[str, list[str]] = defaultdict(list)
    pairs = _entries_of(mailbox_ids).order_by("receiver_rut", "-period").values_list("receiver_rut", "period")
    for receiver, period in pairs.distinct():
        choices[receiver].append(period)
    return dict(choices)


def _entries_of(mailbox_ids: set[int] | None) -> QuerySet[RcvEntry]:
    entries = RcvEntry.objects.all()
    return entries if mailbox_ids is None else entries.filter(mailbox_id__in=mailbox_ids)


def _signed_total() -> Case:
    return Case(
        When(doc_type__in=codes(sign=-1), then=-Abs("total")),
        default=Abs("total"),
        output_field=BigIntegerField(),
    )


def _same_key(prefix: str = "") -> dict[str, OuterRef]:
    return {name: OuterRef(prefix + name) for name in ("receiver_rut", "issuer_rut", "doc_type", "folio")}


class _Scope:
    """The querysets of one comparison: the user's register entries and documents, filtered."""

    def __init__(self, mailbox_ids: set[int] | None, receiver_rut: str | None, period: str | None) -> None:
        self.all_entries = _entries_of(mailbox_ids)
        documents = Document.objects.filter(country="CL")
        self.all_documents = documents if mailbox_ids is None else documents.filter(mailbox_id__in=mailbox_ids)
        self.receiver_rut, self.period = receiver_rut, period

    def entries(self) -> QuerySet[RcvEntry]:
        """The register's entries compared, one per SII key: the one updated last."""
        entries = self.all_entries
        if self.receiver_rut:
            entries = entries.filter(receiver_rut=self.receiver_rut)
        if self.period:
            entries = entries.filter(period=self.period)
        later = self.all_entries.filter(**_same_key()).filter(
            Q(updated_at__gt=OuterRef("updated_at")) | Q(updated_at=OuterRef("updated_at"), pk__gt=OuterRef("pk"))
        )
        return entries.filter(~Exists(later))

    def first_documents(self) -> QuerySet[Document]:
        """The user's documents, one per receiver and SII key: the lowest id."""
        earlier = self.all_documents.filter(**_same_key(), pk__lt=OuterRef("pk"))
        return self.all_documents.filter(~Exists(earlier))

    def document_of_entry(self) -> Subquery:
        return Subquery(self.all_documents.filter(**_same_key()).order_by("pk").values("pk")[:1])

    def entries_with_status(self) -> QuerySet[Any]:
        """entries() with `status`, from the first of the user's documents with the entry's key."""
        document = self.all_documents.filter(**_same_key()).order_by("pk")
        entries = self.entries().annotate(
            has_document=Exists(document),
            rcv_abs=Abs("total"),
            xml_abs=Abs(Subquery(document.values("total")[:1])),
        )
        differs = Q(rcv_abs__isnull=False, xml_abs__isnull=False) & ~Q(rcv_abs=F("xml_abs"))
        return entries.annotate(
            status=Case(
                When(has_document=False, then=Value(Status.MISSING_XML.value)),
                When(differs, then=Value(Status.AMOUNT_MISMATCH.value)),
                default=Value(Status.MATCHED.value),
            )
        )

    def matched_documents(self, *, same_total: bool) -> QuerySet[Document]:
        """The first documents that register entries compared have: those whose totals agree (or are
        not both given), or those whose totals differ."""
        entry = self.entries().filter(**_same_key())
        differs = Q(total__isnull=False) & Exists(
            entry.filter(total__isnull=False).annotate(rcv_abs=Abs("total")).exclude(rcv_abs=Abs(OuterRef("total")))
        )
        documents = self.first_documents().filter(Exists(entry))
        return documents.exclude(differs) if same_total else documents.filter(differs)

    def unregistered_documents(self) -> QuerySet[Document]:
        """The first documents issued in a compared (receiver, period) the register holds in no period."""
        in_periods = Q(pk__in=[])
        for receiver, periods in self._pairs().items():
            months = Q()
            for period in periods:
                first = date(int(period[:4]), int(period[5:7]), 1)
                following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
                months |= Q(issue_date__gte=first, issue_date__lt=following)
            in_periods |= Q(receiver_rut=receiver) & months
        registered = self.all_entries.filter(**_same_key())
        return (
            self.first_documents().filter(in_periods).exclude(doc_type__in=NOT_IN_REGISTER).exclude(Exists(registered))
        )

    def _pairs(self) -> dict[str, list[str]]:
        pairs: dict[str, list[str]] = defaultdict(list)
        for receiver, period in self.entries().order_by().values_list("receiver_rut", "period").distinct():
            if is_period(period):
                pairs[receiver].append(period)
        return pairs


def is_period(text: str) -> bool:
    """Whether `text` is a period as the register writes them: YYYY-MM."""
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12


def _register_rows(scope: _Scope) -> Iterator[ReconciliationRow]:
    entries = (
        scope.entries()
        .annotate(document_id=scope.document_of_entry())
        .order_by("receiver_rut", "period", "issuer_rut", "doc_type", "folio")
    )
    iterator = entries.iterator(chunk_size=BATCH)
    while batch := list(islice(iterator, BATCH)):
        ids = [entry.document_id for entry in batch if entry.document_id is not None]
        documents = {
            document["pk"]: document
            for document in Document.objects.filter(pk__in=ids).values("pk", "total", "issuer_name", "issue_date")
        }
        for entry in batch:
            document = documents.get(entry.document_id)
            yield _register_row(entry, document)


def _register_row(entry: RcvEntry, document: Mapping[str, Any] | None) -> ReconciliationRow:
    rcv_total = _sign(entry.doc_type, entry.total)
    xml_total = _sign(entry.doc_type, document["total"]) if document else None
    if document is None:
        status = Status.MISSING_XML
    elif rcv_total is not None and xml_total is not None and rcv_total != xml_total:
        status = Status.AMOUNT_MISMATCH
    else:
        status = Status.MATCHED
    return ReconciliationRow(
        receiver_rut=entry.receiver_rut,
        period=entry.period,
        issuer_rut=entry.issuer_rut,
        issuer_name=entry.issuer_name.strip() or (document["issuer_name"] if document else ""),
        doc_type=entry.doc_type,
        folio=entry.folio,
        status=status,
        rcv_total=rcv_total,
        xml_total=xml_total,
        issue_date=entry.issue_date or (document["issue_date"] if document else None),
        received_at=entry.received_at,
        register=entry.register,
        document_id=document["pk"] if document else None,
    )


def _unregistered_rows(scope: _Scope) -> Iterator[ReconciliationRow]:
    documents = (
        scope.unregistered_documents()
        .order_by("receiver_rut", TruncMonth("issue_date"), "issuer_rut", "doc_type", "folio")
        .values("pk", "receiver_rut", "issuer_rut", "issuer_name", "doc_type", "folio", "total", "issue_date")
    )
    for document in documents.iterator(chunk_size=BATCH):
        yield ReconciliationRow(
            receiver_rut=document["receiver_rut"],
            period=f"{document['issue_date']:%Y-%m}",
            issuer_rut=document["issuer_rut"],
            issuer_name=document["issuer_name"],
            doc_type=document["doc_type"],
            folio=document["folio"],
            status=Status.MISSING_IN_RCV,
            rcv_total=None,
            xml_total=_sign(document["doc_type"], document["total"]),
            issue_date=document["issue_date"],
            received_at=None,
            register="",
            document_id=document["pk"],
        )


def _sign(doc_type: int, amount: int | None) -> int | None:
    """`amount` with its kind's sign, as document_totals sums it: a credit note negative."""
    if amount is None:
        return None
    return -abs(amount) if kind_of(doc_type).sign < 0 else abs(amount)
