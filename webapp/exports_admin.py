"""Export of an admin list to Excel and CSV: what the list shows, its filters, search and order kept.

A ModelAdmin mixes in a subclass of ExportMixin that says its columns (`export_table`). The list gets
"Exportar a Excel" and "Exportar CSV" buttons carrying its query string; the export reads the
changelist's own queryset, so it holds exactly the rows of the list (the user's mailboxes only) on
every page, with the view permission of the list. Rows are read in chunks and written as they come.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from webapp.spreadsheets import csv_response, xlsx_response

#: Rows read from the database at a time.
CHUNK_ROWS = 2000
#: Excel number formats of the columns.
PESOS = '"$"#,##0;-"$"#,##0'
DECIMAL = "#,##0.00"
DATE = "DD-MM-YYYY"
DATETIME = "DD-MM-YYYY HH:MM"
FORMATS = ("xlsx", "csv")


@dataclass
class Table:
    """An export's columns and its rows of Python values (numbers, dates, aware datetimes, text)."""

    sheet_name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    #: Excel number format of a column, by its index.
    formats: dict[int, str] = field(default_factory=dict)


def local(value: datetime | None) -> datetime | None:
    """An aware datetime as the clock on the wall in TIME_ZONE, to the second: what a spreadsheet cell holds."""
    return timezone.localtime(value).replace(tzinfo=None, microsecond=0) if value is not None else None


def csv_text(value: Any) -> Any:
    """A value as Excel in es-CL reads it from a CSV: dates dd-mm-yyyy, a decimal comma."""
    if isinstance(value, datetime):
        return value.strftime("%d-%m-%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d-%m-%Y")
    if isinstance(value, Decimal):
        return str(value).replace(".", ",")
    return value


def chunked(queryset: QuerySet) -> Iterator[Any]:
    return queryset.iterator(chunk_size=CHUNK_ROWS)


class ExportMixin(admin.ModelAdmin):
    """Mix into a ModelAdmin (before its other bases) and give `export_table` and `export_filename`."""

    #: The downloaded file's name, without extension.
    export_filename = "export"
    export_template = "admin/export_change_list.html"

    def export_table(self, request: HttpRequest, queryset: QuerySet) -> Table:
        raise NotImplementedError

    def _export_url_name(self, file_format: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_export_{file_format}"

    def get_urls(self) -> list[URLPattern]:
        export = self.admin_site.admin_view(self.export_view)
        own = [
            path(f"export.{name}", export, {"file_format": name}, name=self._export_url_name(name)) for name in FORMATS
        ]
        return [*own, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The list with the export buttons: its own template, extended by one that adds them."""
        response = super().changelist_view(request, extra_context)
        if not isinstance(response, TemplateResponse) or response.is_rendered:
            return response
        if response.context_data and "cl" in response.context_data:  # the list, not an action's own page
            query = request.GET.copy()
            query.pop(PAGE_VAR, None)
            suffix = f"?{query.urlencode()}" if query else ""
            response.context_data["export_base_template"] = _template(response.template_name)
            for name in FORMATS:
                url = reverse(f"admin:{self._export_url_name(name)}", current_app=self.admin_site.name)
                response.context_data[f"export_{name}_url"] = url + suffix
            response.template_name = self.export_template
        return response

    def export_view(self, request: HttpRequest, file_format: str) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        table = self.export_table(request, changelist.queryset)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        filename = f"{self.export_filename}-{stamp}.{file_format}"
        if file_format == "csv":
            return csv_response(table.header, ([csv_text(v) for v in row] for row in table.rows), filename)
        return xlsx_response(table.sheet_name, table.header, table.rows, filename, formats=table.formats)


def _template(names: Any) -> Any:
    """The template a TemplateResponse would render: by name, the first of names, or itself."""
    if isinstance(names, str):
        return select_template([names])
    if isinstance(names, list | tuple):
        return select_template(names)
    return names


class UrlOf:
    """Absolute URLs of one view for many rows, without a reverse() per row."""

    _MARK = 987654321

    def __init__(self, request: HttpRequest, view_name: str) -> None:
        absolute = request.build_absolute_uri(reverse(view_name, args=[self._MARK]))
        self._before, _, self._after = absolute.partition(str(self._MARK))

    def __call__(self, pk: int) -> str:
        return f"{self._before}{pk}{self._after}"
