"""The SII purchase register reconciled with the documents received, through the real pipeline.

Mailbox `norte` receives, for one receiver in May 2024: an invoice the register has with the same
total, one it has with another total, a credit note it has, one it lacks, one issued in April and a
guide. Its register also holds an invoice no mail brought. Mailbox `sur` received the first invoice
too (one SII document, two Documents) and an invoice of its own; an operator imported one entry with
no mailbox. The clerk sees only `norte`.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission, User

import webapp.register.admin_reconcile  # noqa: F401 (the page's admin, until admin.py imports it)
from pipeline import samples
from tests.support import sii_cases
from tests.support.inline import process_folder, process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox
from webapp.register.models import RcvEntry, Register
from webapp.register.services.reconcile import Status, reconcile, reconciliation_totals

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
