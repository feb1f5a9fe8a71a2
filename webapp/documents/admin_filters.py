"""Filters of the Document list; each lists only choices found in the user's own documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from pipeline.dte.kinds import DOC_TYPES, Family, codes
from pipeline.dte.rut import format_rut, parse_rut
from webapp.inbox.services.access import limit_to_user

from .admin_trust import STATE_LABELS, TED_FAILING
from .models import CheckState, Document, DocumentAssignment

#: Issuers suggested as one types in the issuer filter (those with the most documents first).
ISSUER_SUGGESTIONS = 500
#: An issuer's name as a valid timbre gives it (anyone may mail a forged DTE under a supplier's RUT), else any.
ISSUER_NAME = Coalesce(Max("issuer_name", filter=Q(ted=CheckState.VALID)), Max("issuer_name"))
#: A RUT's check digits.
DIGITS = tuple("0123456789K")
#: Receivers listed in the receiver filter.
RECEIVER_FILTER_LIMIT = 50

#: The families the kind filter offers, in the order an accountant looks for them.
KIND_CHOICES = (
    (Family.INVOICE, _("Invoices")),
    (Family.CREDIT_NOTE, _("Credit notes")),
    (Family.DEBIT_NOTE, _("Debit notes")),
    (Family.GUIDE, _("Dispatch guides")),
    (Family.RECEIPT, _("Receipts (boletas)")),
)


def bounded_number(text: str) -> int | None:
    """ASCII digits only (isdigit takes "²", int not) as a number; over 20 digits (int() refuses 4300) 10**20."""
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text.lstrip("0") or "0") if len(text.lstrip("0")) <= 20 else 10**20


def _own_documents(request: HttpRequest, model_admin: Any) -> QuerySet[Document]:
    return model_admin.get_queryset(request).order_by()


#: A document in a foreign currency (the currency filter is offered once one exists).
FOREIGN = ~Q(foreign_currency="") & ~Q(foreign_currency="CLP")
#: The columns whose values present in the user's documents the filters offer as choices.
FACETS = ("doc_type", "adds_up", "payment_form", "ted", "signature", "conflict", "receiver_rut")


def _facets(request: HttpRequest, model_admin: Any) -> list[dict[str, Any]]:
    """The combinations of FACETS in the user's documents, with a receiver's name and whether any is foreign:
    one pass over the documents for every filter's choices, not one per filter (at 100,000 documents each
    pass costs tens of milliseconds). The combinations are few: a handful of types, checks and receivers."""
    if not hasattr(request, "_document_facets"):
        rows = (
            _own_documents(request, model_admin)
            .values(*FACETS)
            .annotate(receiver_name=Max("receiver_name"), foreign=Count("pk", filter=FOREIGN))
            .order_by()
        )
        request._document_facets = list(rows)  # type: ignore[attr-defined]
    return request._document_facets  # type: ignore[attr-defined]


def _present(request: HttpRequest, model_admin: Any, column: str) -> set[Any]:
    return {row[column] for row in _facets(request, model_admin)}


class IssuerFilter(admin.ListFilter):
    """A RUT or part of a name typed in, with the user's issuers suggested as they type (an HTML datalist):
    no flat list of every supplier, no script, no model of issuers for the admin's own autocomplete."""

    title = _("issuer")
    parameter_name = "issuer"
    template = "admin/documents/text_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        value = params.pop(self.parameter_name, "")
        self.value = (value[-1] if isinstance(value, list) else value).strip()
        self.model_admin = model_admin
        self.request = request

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def queryset(self, request, queryset):
        if not self.value:
            return queryset
        # a RUT whose check digit is wrong is still the issuer's as written: matched as typed too
        rut = parse_rut(self.value).normalized
        body, dash, digit = rut.partition("-")
        if "-" in self.value and dash and len(body) >= 6 and body.isascii() and body.isdigit() and digit in DIGITS:
            # a RUT as written, with its dash, is no part of a name: its index answers, no scan of every name
            return queryset.filter(issuer_rut=rut)
        return queryset.filter(Q(issuer_name__icontains=self.value) | (Q(issuer_rut=rut) if rut else Q()))

    @cached_property
    def lookup_choices(self) -> list[tuple[str, str]]:
        """(RUT, name) of the user's issuers, those with the most documents first: the suggestions."""
        rows = (
            _own_documents(self.request, self.model_admin)
            .values("issuer_rut")
            .annotate(documents=Count("pk"), name=ISSUER_NAME)
            .order_by("-documents", "name")[:ISSUER_SUGGESTIONS]
        )
        return [(row["issuer_rut"], row["name"] or "?") for row in rows]

    def choices(self, changelist):
        keep = [(k, v) for k, v in changelist.params.items() if k != self.parameter_name]
        yield {
            "hidden": [(k, v[-1] if isinstance(v, list) else v) for k, v in keep],
            "name": self.parameter_name,
            "value": self.value,
            "placeholder": _("Name or RUT"),
            "options": [(format_rut(rut), name) for rut, name in self.lookup_choices],
            "reset": changelist.get_query_string(remove=[self.parameter_name]),
        }


class ReceiverFilter(admin.SimpleListFilter):
    """The user's own companies: the receivers of their documents, few enough to list."""

    title = _("receiver")
    parameter_name = "receiver"

    def lookups(self, request, model_admin):
        names: dict[str, str] = {}
        for row in _facets(request, model_admin):
            if row["receiver_rut"]:
                names[row["receiver_rut"]] = max(names.get(row["receiver_rut"], ""), row["receiver_name"] or "")
        rows = [{"receiver_rut": rut, "name": name} for rut, name in names.items()]
        rows = sorted(rows, key=lambda row: (row["name"], row["receiver_rut"]))[:RECEIVER_FILTER_LIMIT]
        return [
            (
                row["receiver_rut"],
                f"{row['name']} ({format_rut(row['receiver_rut'])})"
                if row["name"]
                else format_rut(row["receiver_rut"]),
            )
            for row in rows
        ]

    def queryset(self, request, queryset):
        return queryset.filter(receiver_rut=self.value()) if self.value() else queryset


class DocTypeFilter(admin.SimpleListFilter):
    """The SII's document type (33, 34, 61...), the types found in the user's documents."""

    title = _("document type")
    parameter_name = "doc_type"

    def lookups(self, request, model_admin):
        present = _present(request, model_admin, "doc_type")
        return [(str(code), f"{code} {DOC_TYPES.get(code, '')}".strip()) for code in sorted(present)]

    def queryset(self, request, queryset):
        code = bounded_number(self.value() or "")
        return queryset.filter(doc_type=code) if code is not None else queryset


class KindFilter(admin.SimpleListFilter):
    """Facturas, notas de crédito, ... by the family of pipeline/dte/kinds.py."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        present = _present(request, model_admin, "doc_type")
        return [(family.value, label) for family, label in KIND_CHOICES if present & set(codes(family=family))]

    def queryset(self, request, queryset):
        families = {family.value: family for family, _label in KIND_CHOICES}
        if (family := families.get(self.value() or "")) is not None:
            return queryset.filter(doc_type__in=codes(family=family))
        return queryset


#: The adds-up filter's parameter values.
ADDS_UP_VALUES: dict[str, bool | None] = {"yes": True, "no": False, "unknown": None}


class AddsUpFilter(admin.SimpleListFilter):
    title = _("adds up")
    parameter_name = "adds_up"

    def lookups(self, request, model_admin):
        present = _present(request, model_admin, "adds_up")
        labels = {"yes": _("Adds up"), "no": _("Does not add up"), "unknown": _("Not checked")}
        return [(key, labels[key]) for key, value in ADDS_UP_VALUES.items() if value in present]

    def queryset(self, request, queryset):
        key = self.value() or ""
        if key not in ADDS_UP_VALUES:
            return queryset
        value = ADDS_UP_VALUES[key]
        return queryset.filter(adds_up__isnull=True) if value is None else queryset.filter(adds_up=value)


class PaymentFormFilter(admin.SimpleListFilter):
    title = _("payment form")
    parameter_name = "payment_form"

    def lookups(self, request, model_admin):
        present = _present(request, model_admin, "payment_form")
        return [(str(value), label) for value, label in Document.PaymentForm.choices if value in present]

    def queryset(self, request, queryset):
        chosen = self.value() or ""
        if chosen in {str(value) for value in Document.PaymentForm.values}:
            return queryset.filter(payment_form=int(chosen))
        return queryset


class CurrencyFilter(admin.SimpleListFilter):
    title = _("currency")
    parameter_name = "currency"
    _foreign = FOREIGN

    def lookups(self, request, model_admin):
        if not any(row["foreign"] for row in _facets(request, model_admin)):
            return []
        return [("clp", _("Chilean pesos")), ("other", _("Other currencies"))]

    def queryset(self, request, queryset):
        if self.value() == "clp":
            return queryset.exclude(self._foreign)
        if self.value() == "other":
            return queryset.filter(self._foreign)
        return queryset


def visible_assignments(request: HttpRequest) -> QuerySet[DocumentAssignment]:
    """Cesiones whose AEC arrived through a mailbox the user may see."""
    return limit_to_user(
        DocumentAssignment.objects.all(), request.user, mailbox_field="attachment__message__mailbox_id"
    )


class AssignedFilter(admin.SimpleListFilter):
    """Cedida: an AEC of one of the user's mailboxes sold it to a factoring company."""

    title = _("assigned (factoring)")
    parameter_name = "assigned"

    def _assigned(self, request: HttpRequest) -> Exists:
        return Exists(visible_assignments(request).filter(document_id=OuterRef("pk")))

    def lookups(self, request, model_admin):
        # from the cesiones' side, of the user's documents (get_queryset's scope): they are few, the documents
        # many (an EXISTS per document reads all 100,000 when none is assigned)
        own = limit_to_user(visible_assignments(request), request.user, mailbox_field="document__mailbox_id")
        if not own.filter(document__isnull=False).exists():
            return []
        return [("yes", _("Assigned")), ("no", _("Not assigned"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(self._assigned(request))
        if self.value() == "no":
            return queryset.exclude(self._assigned(request))
        return queryset


def _checks_present(request: HttpRequest, model_admin: Any) -> set[tuple[str, str, bool]]:
    """The (TED, signature, conflict) combinations of the user's documents."""
    return {(row["ted"], row["signature"], row["conflict"]) for row in _facets(request, model_admin)}


#: The TED filter's value for a timbre that does not verify (invalid or missing): the dashboard links to it.
TED_FAILING_VALUE = "failing"


class CheckStateFilter(admin.SimpleListFilter):
    """Valid, invalid, missing or not checked: a check of the chosen copy, `field_name` of Document."""

    field_name = ""  # "ted" or "signature"

    def _present(self, request: HttpRequest, model_admin: Any) -> set[str]:
        index = ("ted", "signature").index(self.field_name)
        return {str(row[index]) for row in _checks_present(request, model_admin)}

    def lookups(self, request, model_admin):
        present = self._present(request, model_admin)
        if present <= {CheckState.UNCHECKED}:
            return []  # nothing checked yet: nothing to choose between
        return [(state, STATE_LABELS[state]) for state in CheckState.values if state in present]

    def queryset(self, request, queryset):
        if self.value() in CheckState.values:
            return queryset.filter(**{self.field_name: self.value()})
        return queryset


class TedFilter(CheckStateFilter):
    title = _("electronic stamp (TED)")
    parameter_name = "ted"
    field_name = "ted"

    def lookups(self, request, model_admin):
        choices = super().lookups(request, model_admin)
        if self._present(request, model_admin) & set(TED_FAILING):
            choices.append((TED_FAILING_VALUE, _("Does not verify (invalid or missing)")))
        return choices

    def queryset(self, request, queryset):
        if self.value() == TED_FAILING_VALUE:
            return queryset.filter(ted__in=TED_FAILING)
        return super().queryset(request, queryset)


class SignatureFilter(CheckStateFilter):
    title = _("signature")
    parameter_name = "signature"
    field_name = "signature"


class ConflictFilter(admin.SimpleListFilter):
    """Copies that say different things (amounts, dates, RUTs, lines): offered once one of them exists."""

    title = _("conflicting copies")
    parameter_name = "conflict"

    def lookups(self, request, model_admin):
        if not any(conflict for _ted, _signature, conflict in _checks_present(request, model_admin)):
            return []
        return [("yes", _("Conflicting copies")), ("no", _("Copies agree"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(conflict=self.value() == "yes")
        return queryset


class RangeFilter(admin.ListFilter):
    """`field_name` from / to (inclusive), as two inputs named <parameter_prefix>_from and _to."""

    field_name = ""
    parameter_prefix = ""  # field_name when empty
    input_type = "date"
    template = "admin/documents/date_range_filter.html"

    def parse(self, text: str) -> Any:
        """The bound typed in, or None when it is not one."""
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None

    def shown(self, value: Any) -> str:
        return value.isoformat() if value is not None else ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        prefix = self.parameter_prefix or self.field_name
        self.params = (f"{prefix}_from", f"{prefix}_to")
        self.values: dict[str, Any] = {}
        for name in self.params:
            if name in params:
                value = params.pop(name)
                self.values[name] = self.parse((value[-1] if isinstance(value, list) else value).strip())

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.params)

    def queryset(self, request, queryset):
        start_param, end_param = self.params
        if (start := self.values.get(start_param)) is not None:
            queryset = queryset.filter(**{f"{self.field_name}__gte": start})
        if (end := self.values.get(end_param)) is not None:
            queryset = queryset.filter(**{f"{self.field_name}__lte": end})
        return queryset

    def choices(self, changelist):
        start_param, end_param = self.params
        keep = [(k, v) for k, v in changelist.params.items() if k not in self.params]
        yield {
            "hidden": [(k, v[-1] if isinstance(v, list) else v) for k, v in keep],
            "input_type": self.input_type,
            "from_name": start_param,
            "to_name": end_param,
            "from": self.shown(self.values.get(start_param)),
            "to": self.shown(self.values.get(end_param)),
            "reset": changelist.get_query_string(remove=list(self.params)),
        }


#: DateRangeFilter is the range filter of a date field.
DateRangeFilter = RangeFilter


class IssueDateRangeFilter(DateRangeFilter):
    title = _("issue date range")
    field_name = "issue_date"


class DueDateRangeFilter(DateRangeFilter):
    title = _("due date range")
    field_name = "due_date"


class ReceivedDateRangeFilter(DateRangeFilter):
    """When the mail that carried the chosen copy arrived, on the Santiago calendar (one join, no subquery)."""

    title = _("reception date range")
    field_name = "xml_attachment__message__received_at__date"
    parameter_prefix = "received"


class AmountRangeFilter(RangeFilter):
    """The total as the document states it, in pesos: a credit note of $10.000 is in 5.000 to 20.000, though
    the list shows it subtracting."""

    title = _("total range (pesos)")
    field_name = "total"
    input_type = "text"

    def parse(self, text: str) -> int | None:
        return bounded_number(text.replace("$", "").replace(".", "").replace(" ", "").split(",")[0])

    def shown(self, value: Any) -> str:
        return f"{value:,}".replace(",", ".") if value is not None else ""
