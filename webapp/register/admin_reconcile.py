"""The "Conciliación con el SII" admin page and its Excel and CSV exports.

`Reconciliation` is a proxy of RcvEntry with no rows of its own: it gives the page its place in the
admin index and its permission (register.view_reconciliation); its changelist is the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.formatting import money
from webapp.inbox.search import whole_number
from webapp.inbox.services.access import visible_mailbox_ids
from webapp.spreadsheets import csv_response, xlsx_response

from .models import RcvEntry, Register
from .services.reconcile import (
    STATUS_LABELS,
    ReconciliationRow,
    Status,
    reconcile,
    reconciliation_totals,
    register_choices,
)

#: Rows on one page of the admin; the exports hold them all.
PAGE_ROWS = 200


class Reconciliation(RcvEntry):
    class Meta:
        proxy = True
        verbose_name = _("reconciliation with the SII")
        verbose_name_plural = _("reconciliation with the SII")


@dataclass(frozen=True)
class Choice:
    """What the page compares: a receiver and period of the user's register, and a status or all."""

    receivers: dict[str, list[str]]
    receiver: str | None
    period: str | None
    status: Status | None

    @property
    def query(self) -> dict[str, str]:
        wanted = {"receiver": self.receiver, "period": self.period, "status": self.status}
        return {name: str(value) for name, value in wanted.items() if value}


def chosen(request: HttpRequest, mailbox_ids: set[int] | None) -> Choice:
    """The receiver, period and status asked for, among what the user's register holds; by default
    the first receiver and its newest period. A value the register does not hold is not taken."""
    receivers = register_choices(mailbox_ids=mailbox_ids)
    receiver = request.GET.get("receiver", "")
    if receiver not in receivers:
        receiver = next(iter(receivers), "")
    periods = receivers.get(receiver, [])
    period = request.GET.get("period")
    if period is None or (period and period not in periods):
        period = periods[0] if periods else ""
    status_text = request.GET.get("status", "")
    status = Status(status_text) if status_text in set(Status) else None
    return Choice(receivers=receivers, receiver=receiver or None, period=period or None, status=status)


def chosen_rows(choice: Choice, mailbox_ids: set[int] | None) -> Iterator[ReconciliationRow]:
    if choice.receiver is None:
        return iter(())
    rows = reconcile(mailbox_ids=mailbox_ids, receiver_rut=choice.receiver, period=choice.period)
    return (row for row in rows if choice.status is None or row.status == choice.status)


def document_url(row: ReconciliationRow) -> str:
    if row.document_id is None:
        return ""
    return reverse("admin:documents_document_change", args=[row.document_id])


@admin.register(Reconciliation)
class ReconciliationAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("export.xlsx", export, {"file_format": "xlsx"}, name="register_reconciliation_xlsx"),
            path("export.csv", export, {"file_format": "csv"}, name="register_reconciliation_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        mailbox_ids = visible_mailbox_ids(request.user)
        choice = chosen(request, mailbox_ids)
        totals = (
            reconciliation_totals(mailbox_ids=mailbox_ids, receiver_rut=choice.receiver, period=choice.period)
            if choice.receiver
            else {}
        )
        page = _page_number(request)
        rows = list(islice(chosen_rows(choice, mailbox_ids), (page - 1) * PAGE_ROWS, page * PAGE_ROWS + 1))
        query = choice.query
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": gettext("Reconciliation with the SII"),
            "opts": self.model._meta,
            "choice": choice,
            "periods": choice.receivers.get(choice.receiver or "", []),
            "statuses": [(status.value, STATUS_LABELS[status]) for status in Status],
            "summary": [
                {
                    "status": status.value,
                    "label": STATUS_LABELS[status],
                    "count": figures.count,
                    "rcv_total": money(figures.rcv_total),
                    "xml_total": money(figures.xml_total),
                    "url": "?" + urlencode({**query, "status": status.value}),
                }
                for status, figures in totals.items()
            ],
            "rows": [_displayed(row) for row in rows[:PAGE_ROWS]],
            "previous_url": "?" + urlencode({**query, "page": str(page - 1)}) if page > 1 else "",
            "next_url": "?" + urlencode({**query, "page": str(page + 1)}) if len(rows) > PAGE_ROWS else "",
            "xlsx_url": reverse("admin:register_reconciliation_xlsx") + "?" + urlencode(query),
            "csv_url": reverse("admin:register_reconciliation_csv") + "?" + urlencode(query),
        }
        return TemplateResponse(request, "admin/register/reconciliation.html", context)

    def export_view(self, request: HttpRequest, file_format: str) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        mailbox_ids = visible_mailbox_ids(request.user)
        choice = chosen(request, mailbox_ids)
        rows = chosen_rows(choice, mailbox_ids)
        name = "-".join(["conciliacion-sii", *(value for value in (choice.receiver, choice.period) if value)])
        if file_format == "csv":
            return _csv_response(rows, f"{name}.csv")
        return _xlsx_response(rows, f"{name}.xlsx")


def _page_number(request: HttpRequest) -> int:
    number = whole_number(request.GET.get("page", "1")[:9])  # "²" is a digit to str.isdigit, not to int
    return max(1, number) if number is not None else 1


def _displayed(row: ReconciliationRow) -> dict[str, Any]:
    difference = None if row.rcv_total is None or row.xml_total is None else row.rcv_total - row.xml_total
    return {
        "row": row,
        "label": STATUS_LABELS[row.status],
        "register": Register(row.register).label if row.register else "",
        "rcv_total": money(row.rcv_total),
        "xml_total": money(row.xml_total),
        "difference": money(difference) if difference else "",
        "document_url": document_url(row),
    }


def export_header() -> list[str]:
    return [
        gettext("Receiver RUT"),
        gettext("Period"),
        gettext("Issuer RUT"),
        gettext("Issuer name"),
        gettext("Type"),
        gettext("Folio"),
        gettext("Issue date"),
        gettext("Status"),
        gettext("Register"),
        gettext("Total in the register"),
        gettext("Total of the XML"),
        gettext("Difference"),
        gettext("Received by the SII"),
    ]


def export_values(row: ReconciliationRow) -> list[Any]:
    difference = None if row.rcv_total is None or row.xml_total is None else row.rcv_total - row.xml_total
    return [
        row.receiver_rut,
        row.period,
        row.issuer_rut,
        row.issuer_name,
        row.doc_type,
        row.folio,
        row.issue_date,
        str(STATUS_LABELS[row.status]),
        str(Register(row.register).label) if row.register else "",
        row.rcv_total,
        row.xml_total,
        difference,
        timezone.localtime(row.received_at).replace(tzinfo=None) if row.received_at else None,
    ]


def _csv_response(rows: Iterable[ReconciliationRow], filename: str) -> StreamingHttpResponse:
    return csv_response(export_header(), (export_values(row) for row in rows), filename)


def _xlsx_response(rows: Iterable[ReconciliationRow], filename: str) -> FileResponse:
    pesos = '"$"#,##0;-"$"#,##0'
    formats = {9: pesos, 10: pesos, 11: pesos, 6: "DD-MM-YYYY", 12: "DD-MM-YYYY HH:MM:SS"}
    rows_values = (export_values(row) for row in rows)
    return xlsx_response(gettext("Reconciliation"), export_header(), rows_values, filename, formats=formats)
