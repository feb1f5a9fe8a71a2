"""Exports a spreadsheet opens: CSV as Chile's Excel reads it, and XLSX written row by row.

Names in them come from senders (a DTE's RznSoc, the register's Razon Social): a text that starts
like a formula (=, +, -, @, a tab or a return) is written as text, never as a formula Excel would run.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import FileResponse, StreamingHttpResponse

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Control characters a workbook cannot hold (openpyxl refuses the whole file for one of them).
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: The most characters Excel keeps in a cell; a longer text makes it "repair" the file.
CELL_CHARS = 32767


def cell_text(value: str) -> str:
    """A sender's text as a cell holds it: without the control characters a workbook cannot hold, cut to
    what a cell keeps, and never a formula (a leading apostrophe when it starts like one)."""
    text = _UNWRITABLE.sub("", value)[:CELL_CHARS]
    return "'" + text[: CELL_CHARS - 1] if text.startswith(_FORMULA_STARTS) else text


def inert(value: Any) -> Any:
    """`value`, a text made a cell's (cell_text); anything else as it is."""
    return cell_text(value) if isinstance(value, str) else value


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
    cell.value = _UNWRITABLE.sub("", value)[:CELL_CHARS]
    cell.data_type = "s"
    return cell
