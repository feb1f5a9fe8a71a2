"""A hostile sender's text in the exports: Microsoft 365 hands a mail's subject as the sender wrote it,
control characters and all, and one of them (a vertical tab, a NUL) in a single row made the whole
Excel export an error page (openpyxl refuses the workbook); a text longer than a cell holds made Excel
"repair" the file. Neither may stop the export, nor let a formula through once the controls are gone."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from pipeline.sources.graph import _summary
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage
from webapp.spreadsheets import CELL_CHARS, csv_response, xlsx_response

pytestmark = pytest.mark.django_db

HOSTILE_SUBJECT = "Factura\x0b 99\x00\x1f"
FORMULA_BEHIND_A_NUL = '\x00=HYPERLINK("http://evil.example","x")'


def _attachment_of_a_graph_mail() -> Attachment:
    summary = _summary({"id": "AAMk1", "subject": HOSTILE_SUBJECT, "from": {"emailAddress": {"address": "a@b.cl"}}})
    assert summary.subject == HOSTILE_SUBJECT, "the premise: Graph's subject is stored as the sender wrote it"
    mailbox = Mailbox.objects.create(name="norte", kind=Mailbox.Kind.GRAPH, settings={"user": "x@y.cl"})
    message = MailMessage.objects.create(
        mailbox=mailbox, source_id=summary.source_id, subject=summary.subject, sender=FORMULA_BEHIND_A_NUL
    )
    blob = Blob.objects.create(sha256="cd" * 32, size=10, content_type="application/pdf", storage_name="cd")
    return Attachment.objects.create(
        message=message,
        position=0,
        original_filename="f.pdf",
        filename="f.pdf",
        content_type="application/pdf",
        blob=blob,
        status=Attachment.Status.STORED,
    )


def test_control_characters_in_a_mails_subject_do_not_break_the_attachment_export(admin_client):
    _attachment_of_a_graph_mail()
    response = admin_client.get(reverse("admin:inbox_attachment_export_xlsx"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    row = list(sheet[2])
    assert row[1].value == "Factura 99"
    assert row[2].value == FORMULA_BEHIND_A_NUL[1:] and row[2].data_type == "s", "text, never a formula"

    response = admin_client.get(reverse("admin:inbox_attachment_export_csv"))
    (line,) = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")), delimiter=";"))[1:]
    assert line[1] == "Factura 99"
    assert line[2] == "'" + FORMULA_BEHIND_A_NUL[1:], "the NUL gone, the formula is made text"


def test_a_text_longer_than_a_cell_holds_is_cut_to_it_in_both_formats():
    long = "x" * (CELL_CHARS + 500)
    workbook = xlsx_response("s", ["a"], [[long], ["=" + long]], "f.xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(workbook.streaming_content))).active
    assert [len(row[0].value) for row in sheet.iter_rows(min_row=2)] == [CELL_CHARS, CELL_CHARS]
    rows = csv_response(["a"], [[long], ["=" + long]], "f.csv")
    lines = list(csv.reader(io.StringIO(b"".join(rows.streaming_content).decode("utf-8-sig")), delimiter=";"))
    assert [len(line[0]) for line in lines[1:]] == [CELL_CHARS, CELL_CHARS] and lines[2][0].startswith("'=")
