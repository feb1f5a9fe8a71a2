"""Hostile purchase-register files: a 30 MB line, NUL bytes, UTF-16, ten thousand columns, a ZIP, a name
with a path and control characters, a million refused rows' worth of problems, an upload past the cap."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.rcv import MAX_LINE_BYTES, BadRow, RcvFormatError, RcvReader, RcvRow
from tests.unit.test_rcv_import import RECEIVER, clerk, imported, mailboxes, sii_name  # noqa: F401 (fixtures)
from tests.unit.test_rcv_reader import VARIANTS, sample
from webapp.register.models import RcvEntry, RcvImport
from webapp.register.services.imports import MAX_PROBLEMS, RcvImportRefused, rcv_import

pytestmark = pytest.mark.django_db

REGISTRO = sample(VARIANTS["registro"])
HEADER, FIRST, *REST = REGISTRO.splitlines(keepends=True)


def _rows(data: bytes) -> list[RcvRow | BadRow]:
    return list(RcvReader(io.BytesIO(data)))


def test_a_30_mb_line_without_newline_is_refused_as_it_streams_by(tmp_path):
    path = tmp_path / sii_name("registro")
    with path.open("wb") as file:
        file.write(HEADER)
        for _ in range(30):
            file.write(b"A" * 1024 * 1024)
        file.write(b"\n" + FIRST + b"".join(REST))
    tracemalloc.start()
    try:
        with path.open("rb") as file:
            record = rcv_import(file, filename=path.name)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    assert record.rows_created == 2 and record.rows_failed == 1
    assert record.problems == [{"line": 2, "reason": f"is longer than {MAX_LINE_BYTES // 1024} KiB; not read"}]


def test_a_nul_byte_in_a_name_refuses_that_row_and_keeps_the_others():
    rows = _rows(HEADER + FIRST.replace(b"Fake Company", b"Fake\x00Company") + b"".join(REST))
    assert isinstance(rows[0], BadRow) and "NUL" in rows[0].reason
    assert [type(row) for row in rows[1:]] == [RcvRow] and all("\x00" not in str(r) for r in rows)


def test_a_utf16_register_is_refused_whole():
    with pytest.raises(RcvFormatError, match="NUL"):
        RcvReader(io.BytesIO(REGISTRO.decode("utf-8").encode("utf-16")))


def test_ten_thousand_columns_refuse_the_row_and_a_header_of_a_thousand_the_file():
    rows = _rows(HEADER + FIRST.rstrip(b"\r\n") + b";x" * 10_000 + b"\n" + b"".join(REST))
    assert isinstance(rows[0], BadRow) and rows[0].reason.startswith("10")
    assert isinstance(rows[1], RcvRow)
    with pytest.raises(RcvFormatError, match="columns"):
        RcvReader(io.BytesIO(HEADER.rstrip(b"\r\n") + b";Col" * 1000 + b"\n" + FIRST))


def test_a_zip_named_like_the_sii_csv_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("RCV.csv", REGISTRO * 50)
    with pytest.raises(RcvImportRefused):
        imported(buffer.getvalue(), sii_name("registro"))
    assert not RcvImport.objects.exists()


def test_a_file_name_with_a_path_and_control_characters_is_kept_clean():
    name = "..\\..\\etc/\x1b[31m\u202eRCV_COMPRA_REGISTRO_76086428-5_201906\x00.csv"
    record = imported(REGISTRO, name, receiver_rut=RECEIVER, period="2019-06")
    assert "/" not in record.filename and "\\" not in record.filename
    assert not any(ord(char) < 32 or char == "\u202e" for char in record.filename)
    assert record.filename.endswith(".csv") and record.rows_created == 2


def test_five_thousand_refused_rows_keep_a_thousand_problems_and_count_all(clerk, mailboxes):  # noqa: F811
    bad = b"".join(b"%d;33;;INVALID-RUT;x;%d\n" % (n, n) for n in range(1, 5001))
    record = imported(HEADER + bad, sii_name("registro"), mailbox=mailboxes[0])
    assert record.rows_failed == 5000 and len(record.problems) == MAX_PROBLEMS
    page = clerk.get(reverse("admin:register_rcvimport_change", args=[record.pk])).content.decode()
    assert "4000" in page and ("se cuentan" in page or "are counted" in page)


def test_an_upload_past_the_cap_is_not_imported_and_says_why(clerk, mailboxes, settings):  # noqa: F811
    settings.MAX_UPLOAD_BYTES = 1000
    upload = SimpleUploadedFile(sii_name("registro"), HEADER + FIRST * 40, content_type="text/csv")
    response = clerk.post(reverse("admin:register_rcvimport_add"), {"file": upload, "mailbox": mailboxes[0].pk})
    assert response.status_code == 200
    assert "1 MB" in response.context["refused"] and response.context["refused"] in response.content.decode()
    assert not RcvImport.objects.exists() and not RcvEntry.objects.exists()


@pytest.mark.parametrize(
    "dates",
    [b"31/12/9999 23:00:00;01/01/2019", b"25/12/9999 10:00:00;01/01/2019", b"14/12/2019 10:00:00;01/01/0001"],
    ids=["received at 9999's last hour", "claim deadline past 9999", "issued in year 1"],
)
def test_a_date_at_the_calendars_end_refuses_its_row_and_the_register_list_still_opens(clerk, mailboxes, dates):  # noqa: F811
    header = b"Tipo Doc;RUT Proveedor;Folio;Fecha Recepcion;Fecha Docto\n"
    good = b"33;76354771-K;6;14/12/2019 10:00:00;13/12/2019\n"
    record = imported(header + b"33;76354771-K;5;" + dates + b"\n" + good, sii_name("registro"), mailbox=mailboxes[0])
    assert (record.rows_created, record.rows_failed) == (1, 1) and record.problems[0]["line"] == 2
    assert clerk.get(reverse("admin:register_rcventry_changelist")).status_code == 200
