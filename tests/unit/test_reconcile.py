"""The SII purchase register reconciled with the documents received, through the real pipeline.

Mailbox `norte` receives, for one receiver in May 2024: an invoice the register has with the same
total, one it has with another total, a credit note it has, one it lacks, one issued in April and a
guide. Its register also holds an invoice no mail brought. Mailbox `sur` received the first invoice
too (one SII document, two Documents) and an invoice of its own; an operator imported one entry with
no mailbox. The clerk sees only `norte`.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

import webapp.register.admin_reconcile  # noqa: F401 (the page's admin, until admin.py imports it)
from pipeline import samples
from tests.support import sii_cases
from tests.support.inline import process_folder, process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox
from webapp.register.models import RcvEntry, Register
from webapp.register.services.reconcile import BATCH, Status, reconcile, reconciliation_totals

pytestmark = pytest.mark.django_db

RECEIVER = samples.DEFAULT_RECEIVER_RUT
ISSUER = samples.DEFAULT_ISSUER_RUT
SUR_ISSUER = samples.valid_rut(77_777_777)
MAY = date(2024, 5, 14)
#: Default lines: 55.870 net + 10.615 VAT.
INVOICE_TOTAL = 66_485
#: One line of 12.990 + 2.468 VAT.
NOTE_TOTAL = 15_458
REGISTER_MISMATCH_TOTAL = 70_000


def _mail(xml: bytes, name: str) -> bytes:
    return samples.supplier_email(subject=name, attachments=[(f"{name}.xml", "application/xml", xml)])


def _invoice(folio: int, *, issue_date: date = MAY, issuer_rut: str = ISSUER, issuer_name: str = "") -> bytes:
    return samples.dte_xml(
        folio=folio,
        issue_date=issue_date,
        issuer_rut=issuer_rut,
        issuer_name=issuer_name or samples.DEFAULT_ISSUER_NAME,
    )


def _credit_note(folio: int) -> bytes:
    return samples.dte_xml(
        doc_type=61,
        folio=folio,
        issue_date=MAY,
        lines=(("Devolución café de grano", 1, 12_990),),
        reference=samples.Reference(folio=1001, issue_date=MAY),
    )


def _entry(mailbox: Mailbox | None, doc_type: int, folio: int, total: int | None, **fields) -> RcvEntry:
    values = {
        "receiver_rut": RECEIVER,
        "period": "2024-05",
        "register": Register.REGISTRO,
        "issuer_rut": ISSUER,
        "issuer_name": samples.DEFAULT_ISSUER_NAME,
        "issue_date": MAY,
    }
    return RcvEntry.objects.create(mailbox=mailbox, doc_type=doc_type, folio=folio, total=total, **{**values, **fields})


@pytest.fixture
def month(tmp_path):
    process_folder(
        tmp_path / "norte",
        (
            _mail(_invoice(1001), "f1001"),
            _mail(_invoice(1002), "f1002"),
            _mail(_credit_note(77), "nc77"),
            _mail(_invoice(1003), "f1003"),
            _mail(_invoice(1004, issue_date=date(2024, 4, 30)), "f1004"),
            _mail(sii_cases.transfer_guide(), "guia"),
        ),
        name="norte",
        why="every document is well formed",
    )
    norte = Mailbox.objects.get(name="norte")
    sur = Mailbox.objects.create(name="sur", settings={"path": str(tmp_path / "sur")})
    (tmp_path / "sur").mkdir()
    (tmp_path / "sur" / "01.eml").write_bytes(_mail(_invoice(1001), "f1001"))
    (tmp_path / "sur" / "02.eml").write_bytes(
        _mail(_invoice(2001, issuer_rut=SUR_ISSUER, issuer_name="Comercial Sur Ltda"), "f2001")
    )
    assert process_mailbox(sur).raised == []
    assert Document.objects.filter(doc_type=33, folio=1001).count() == 2

    _entry(norte, 33, 1001, INVOICE_TOTAL)
    _entry(norte, 33, 1002, REGISTER_MISMATCH_TOTAL)
    _entry(norte, 61, 77, NOTE_TOTAL)
    _entry(norte, 33, 1005, 50_000, register=Register.PENDIENTE)
    _entry(sur, 33, 1001, INVOICE_TOTAL)
    _entry(None, 33, 3001, 10_000, issuer_name="Operador Importado SpA")
    clerk = clerk_of(norte)
    clerk.user_permissions.add(*Permission.objects.filter(content_type__app_label="register"))
    return SimpleNamespace(norte=norte, sur=sur, clerk=User.objects.get(pk=clerk.pk))


def _by_key(rows) -> dict[tuple[int, int], object]:
    return {(row.doc_type, row.folio): row for row in rows}


def test_every_state_with_both_totals_and_a_negative_credit_note(month):
    rows = _by_key(reconcile(mailbox_ids={month.norte.pk}))

    assert {key: row.status for key, row in rows.items()} == {
        (33, 1001): Status.MATCHED,
        (33, 1002): Status.AMOUNT_MISMATCH,
        (61, 77): Status.MATCHED,
        (33, 1005): Status.MISSING_XML,
        (33, 1003): Status.MISSING_IN_RCV,
    }  # 1004 was issued in April and the guide is never in the register
    mismatch = rows[(33, 1002)]
    assert (mismatch.rcv_total, mismatch.xml_total) == (REGISTER_MISMATCH_TOTAL, INVOICE_TOTAL)
    note = rows[(61, 77)]
    assert (note.rcv_total, note.xml_total) == (-NOTE_TOTAL, -NOTE_TOTAL)
    assert rows[(33, 1005)].xml_total is None and rows[(33, 1005)].document_id is None
    assert rows[(33, 1005)].register == Register.PENDIENTE
    unregistered = rows[(33, 1003)]
    assert unregistered.rcv_total is None and unregistered.xml_total == INVOICE_TOTAL
    assert Document.objects.get(pk=unregistered.document_id).mailbox == month.norte
    assert Document.objects.get(pk=rows[(33, 1001)].document_id).mailbox == month.norte


def test_totals_per_status_sum_as_the_document_list_does(month):
    totals = reconciliation_totals(mailbox_ids={month.norte.pk})

    assert totals[Status.MATCHED].count == 2
    assert totals[Status.MATCHED].rcv_total == INVOICE_TOTAL - NOTE_TOTAL
    assert totals[Status.MATCHED].xml_total == INVOICE_TOTAL - NOTE_TOTAL
    assert (totals[Status.AMOUNT_MISMATCH].rcv_total, totals[Status.AMOUNT_MISMATCH].xml_total) == (
        REGISTER_MISMATCH_TOTAL,
        INVOICE_TOTAL,
    )
    assert (totals[Status.MISSING_XML].count, totals[Status.MISSING_XML].rcv_total) == (1, 50_000)
    assert (totals[Status.MISSING_IN_RCV].count, totals[Status.MISSING_IN_RCV].xml_total) == (1, INVOICE_TOTAL)


def test_a_document_received_in_two_mailboxes_counts_once(month):
    rows = list(reconcile(mailbox_ids=None))
    keys = [(row.doc_type, row.folio) for row in rows]

    assert keys.count((33, 1001)) == 1
    assert _by_key(rows)[(33, 1001)].status == Status.MATCHED
    assert _by_key(rows)[(33, 2001)].status == Status.MISSING_IN_RCV
    assert _by_key(rows)[(33, 3001)].status == Status.MISSING_XML
    totals = reconciliation_totals(mailbox_ids=None)
    assert totals[Status.MATCHED].count == 2
    assert totals[Status.MATCHED].xml_total == INVOICE_TOTAL - NOTE_TOTAL
    assert totals[Status.MISSING_IN_RCV].count == 2


def test_a_mailbox_sees_its_own_register_and_documents_only(month):
    sur_rows = _by_key(reconcile(mailbox_ids={month.sur.pk}))

    assert {key: row.status for key, row in sur_rows.items()} == {
        (33, 1001): Status.MATCHED,
        (33, 2001): Status.MISSING_IN_RCV,
    }
    assert Document.objects.get(pk=sur_rows[(33, 1001)].document_id).mailbox == month.sur


def test_filters_by_receiver_and_period(month):
    _entry(month.norte, 33, 1004, INVOICE_TOTAL, period="2024-04")

    april = _by_key(reconcile(mailbox_ids={month.norte.pk}, period="2024-04"))
    assert {key: row.status for key, row in april.items()} == {(33, 1004): Status.MATCHED}
    assert list(reconcile(mailbox_ids=None, receiver_rut=samples.valid_rut(11_111_111))) == []


SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}


def _command(*args: str) -> str:
    out = io.StringIO()
    with translation.override("es"):
        call_command("reconcile", *args, stdout=out)
    return out.getvalue()


def test_the_command_reports_counts_sums_and_the_rows_that_do_not_match(month):
    text = _command("--receiver", "77.500.100-3", "--period", "2024-05")

    assert "Cuadra: 2 (registro $51.027, XML $51.027)" in text
    assert "Montos distintos: 1 (registro $70.000, XML $66.485)" in text
    assert "Sin XML recibido: 2 (registro $60.000, XML $0)" in text  # 1005 and the operator's 3001
    assert "No está en el registro del SII: 2 (registro $0, XML $132.970)" in text
    not_matched = text.split("No cuadran:")[1]
    assert "33-1002" in not_matched and "registro $70.000" in not_matched and "XML $66.485" in not_matched
    assert "33-1005" in not_matched and "33-3001" in not_matched and "33-2001" in not_matched
    assert "33-1001" not in not_matched and "61-77" not in not_matched


def test_the_command_prints_json_rows(month):
    rows = json.loads(_command("--json", "--period", "2024-05"))

    by_key = {(row["type"], row["folio"]): row for row in rows}
    assert by_key[(33, 1002)] == {
        "issuer": ISSUER,
        "type": 33,
        "folio": 1002,
        "status": "amount_mismatch",
        "rcv_total": REGISTER_MISMATCH_TOTAL,
        "xml_total": INVOICE_TOTAL,
    }
    assert by_key[(61, 77)]["rcv_total"] == -NOTE_TOTAL and by_key[(61, 77)]["status"] == "matched"
    assert by_key[(33, 1005)]["xml_total"] is None and by_key[(33, 1005)]["status"] == "missing_xml"
    assert by_key[(33, 2001)] == {
        "issuer": SUR_ISSUER,
        "type": 33,
        "folio": 2001,
        "status": "missing_in_rcv",
        "rcv_total": None,
        "xml_total": INVOICE_TOTAL,
    }
    assert [(row["type"], row["folio"]) for row in rows].count((33, 1001)) == 1
    assert json.loads(_command("--json", "--period", "2023-01")) == []


def test_the_command_refuses_a_bad_period():
    with pytest.raises(CommandError):
        call_command("reconcile", "--period", "2024-13", stdout=io.StringIO())


PAGE = "admin:register_reconciliation_changelist"


def test_the_page_shows_the_clerks_rows_only_with_links_to_their_documents(month, client):
    client.force_login(month.clerk)

    index = client.get(reverse("admin:index"), **SPANISH).content.decode()
    assert reverse(PAGE) in index and "Conciliación con el SII" in index
    response = client.get(reverse(PAGE), **SPANISH)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Conciliación con el SII" in page
    assert "Montos distintos" in page and "$70.000" in page and "$66.485" in page and "-$15.458" in page
    assert "Sin XML recibido" in page and "No está en el registro del SII" in page
    assert ">1005<" in page and ">1003<" in page
    assert ">3001<" not in page and ">2001<" not in page and "Comercial Sur" not in page
    assert "Operador Importado" not in page
    norte_invoice = Document.objects.get(mailbox=month.norte, doc_type=33, folio=1002)
    sur_invoice = Document.objects.get(mailbox=month.sur, doc_type=33, folio=1001)
    assert reverse("admin:documents_document_change", args=[norte_invoice.pk]) in page
    assert reverse("admin:documents_document_change", args=[sur_invoice.pk]) not in page

    only_missing = client.get(reverse(PAGE), {"status": "missing_xml"}, **SPANISH).content.decode()
    assert ">1005<" in only_missing and ">1002<" not in only_missing


def test_the_page_offers_only_what_the_users_register_holds(month, client, admin_user):
    RcvEntry.objects.create(
        mailbox=month.sur,
        receiver_rut=SUR_ISSUER,
        period="2024-06",
        register=Register.REGISTRO,
        issuer_rut=ISSUER,
        doc_type=33,
        folio=9,
        total=1,
    )
    client.force_login(month.clerk)
    clerk_page = client.get(reverse(PAGE), {"receiver": SUR_ISSUER, "period": "2024-06"}, **SPANISH)
    assert f'value="{SUR_ISSUER}"' not in clerk_page.content.decode()
    assert clerk_page.context["choice"].receiver == RECEIVER  # a receiver not theirs is not taken

    client.force_login(admin_user)
    admin_page = client.get(reverse(PAGE), {"receiver": SUR_ISSUER, "period": "2024-06"}, **SPANISH)
    assert admin_page.context["choice"].receiver == SUR_ISSUER
    assert ">3001<" not in admin_page.content.decode() and ">9<" in admin_page.content.decode()


def test_a_user_without_the_permission_gets_no_page(month, client):
    stranger = clerk_of(month.norte, username="stranger")
    client.force_login(stranger)

    assert client.get(reverse(PAGE)).status_code == 403
    assert client.get(reverse("admin:register_reconciliation_csv")).status_code == 403


def test_the_exports_hold_the_same_rows_as_the_page(month, client):
    client.force_login(month.clerk)
    query = {"receiver": RECEIVER, "period": "2024-05"}

    response = client.get(reverse("admin:register_reconciliation_csv"), query, **SPANISH)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "conciliacion-sii-77500100-3-2024-05.csv" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert table[0][:3] == ["RUT receptor", "Período", "RUT emisor"]
    by_folio = {row[5]: row for row in table[1:]}
    assert set(by_folio) == {"1001", "1002", "77", "1003", "1005"}
    assert (by_folio["1002"][7], by_folio["1002"][9], by_folio["1002"][10]) == ("Montos distintos", "70000", "66485")
    assert by_folio["77"][9] == by_folio["77"][10] == str(-NOTE_TOTAL)

    response = client.get(reverse("admin:register_reconciliation_xlsx"), {**query, "status": "amount_mismatch"})
    assert response.status_code == 200 and "spreadsheetml" in response["Content-Type"]
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert len(rows) == 2
    assert rows[1][2:6] == (ISSUER, samples.DEFAULT_ISSUER_NAME, 33, 1002)
    assert rows[1][9:12] == (REGISTER_MISMATCH_TOTAL, INVOICE_TOTAL, REGISTER_MISMATCH_TOTAL - INVOICE_TOTAL)


def test_queries_are_per_batch_not_per_row(month, django_assert_max_num_queries):
    many = 3 * BATCH
    RcvEntry.objects.bulk_create(
        RcvEntry(
            mailbox=month.norte,
            receiver_rut=RECEIVER,
            period="2024-05",
            register=Register.REGISTRO,
            issuer_rut=SUR_ISSUER,
            doc_type=34,
            folio=folio,
            total=folio,
        )
        for folio in range(1, many + 1)
    )

    with django_assert_max_num_queries(2 * 4 + 4):  # two per batch of register rows, the pairs, the documents
        rows = list(reconcile(mailbox_ids={month.norte.pk}))
    assert len(rows) == many + 5
    with django_assert_max_num_queries(8):
        totals = reconciliation_totals(mailbox_ids={month.norte.pk})
    assert totals[Status.MISSING_XML].count == many + 1
