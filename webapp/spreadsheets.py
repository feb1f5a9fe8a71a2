"""Exports a spreadsheet opens: CSV as Chile's Excel reads it, and XLSX written row by row.

Names in them come from senders (a DTE's RznSoc, the register's Razon Social): a text that starts
like a formula (=, +, -, @, a tab or a return) is written as text, never as a formula Excel would run.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import FileResponse, StreamingHttpResponse

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def inert(value: Any) -> Any:
    """`value`, with a text that would start a formula made plain text (a leading apostrophe)."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> StreamingHttpResponse:
    """`;`-separated UTF-8 with a BOM, as a spreadsheet in Chile opens it; streamed, blanks for None."""
    writer = csv.writer(_Echo(), delimiter=";")

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow([inert(v) for v in header])
        for row in rows:
            yield writer.writerow(["" if value is None else inert(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(
    sheet_name: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    filename: str,
    *,
    formats: dict[int, str] | None = None,
) -> FileResponse:
    """A write-only workbook: rows go to a temporary file as they come, never all in memory.

    `formats` gives a column's number format by its index ('"$"#,##0' for pesos, "DD-MM-YYYY").
    """
    from openpyxl import Workbook  # loaded by an export only
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_name[:31])
    sheet.append([_text_cell(WriteOnlyCell(sheet), v) for v in header])
    formats = formats or {}
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            cell = WriteOnlyCell(sheet)
            if isinstance(value, str):
                _text_cell(cell, value)
            else:
                cell.value = value
                if value is not None and index in formats:
                    cell.number_format = formats[index]
            cells.append(cell)
        sheet.append(cells)
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it when sent)
    workbook.save(spooled)
    spooled.seek(0)
    return FileResponse(spooled, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)


def _text_cell(cell: Any, value: str) -> Any:
    """Text kept as text: openpyxl takes a value starting with '=' for a formula unless told otherwise."""
    cell.value = value
    cell.data_type = "s"
    return cell
