"""A made-up DTE with another mailbox's supplier RUT and folio (found by attacking main after issue 13).

Before issue 14 the first XML that claimed (issuer, type, folio) was the Document and later copies
joined it as sources, so a forgery mailed to one mailbox showed, or decided, what another mailbox
read. Now each mailbox has its own Document, read from its own mail only.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline import samples
from tests.support.inline import process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

#: A supplier of the other mailbox: its RUT is public (printed on every invoice), its folios run in sequence.
SUPPLIER_RUT = samples.valid_rut(77_777_777)
SUPPLIER = "Comercial Sur Secreta Ltda"
#: What the genuine invoice, received by `sur` only, says.
GENUINE_RECEIVER = "Receptor Secreto del Sur SpA"
GENUINE_LINES = (("Servicio secreto de consultoria", 1, 9_876_543),)
#: What the forged one, mailed to `norte`, says.
FORGED_RECEIVER = "Receptor Inventado Ltda"
FORGED_LINES = (("Cualquier cosa", 1, 1),)


def _mailbox_with(tmp_path, name: str, xml: bytes, *, sender: str) -> Mailbox:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "01.eml").write_bytes(
        samples.supplier_email(
            sender=sender,
            subject=f"Factura 555 ({name})",
            attachments=[("DTE_33_555.xml", "application/xml", xml)],
        )
    )
    mailbox = Mailbox.objects.create(name=name, settings={"path": str(folder)})
    assert process_mailbox(mailbox).raised == []
    return mailbox


def _dte(*, receiver: str, lines) -> bytes:
    return samples.dte_xml(
        issuer_rut=SUPPLIER_RUT, issuer_name=SUPPLIER, folio=555, receiver_name=receiver, lines=lines
    )


def _document_page(client, user, mailbox: Mailbox) -> str:
    client.force_login(user)
    document = Document.objects.get(mailbox=mailbox, issuer_rut=SUPPLIER_RUT, doc_type=33, folio=555)
    response = client.get(reverse("admin:documents_document_change", args=[document.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_forged_dte_with_another_mailboxs_key_does_not_show_that_mailboxs_invoice(client, tmp_path):
    """Anyone who can mail `norte` (its own clerk included) sends a made-up DTE with a supplier's public
    RUT and a folio: it becomes one more source of the Document `sur` received, and `norte`'s clerk
    reads sur's invoice (receiver, amounts, the printable rendered from sur's XML). An envelope of
    DTE with folios 1..N reads every invoice of that supplier in every mailbox in one mail."""
    _mailbox_with(tmp_path, "sur", _dte(receiver=GENUINE_RECEIVER, lines=GENUINE_LINES), sender="dte@sur-proveedor.cl")
    norte = _mailbox_with(
        tmp_path, "norte", _dte(receiver=FORGED_RECEIVER, lines=FORGED_LINES), sender="attacker@example.com"
    )
    page = _document_page(client, clerk_of(norte), norte)
    assert GENUINE_RECEIVER not in page, "norte's clerk reads the receiver of sur's invoice"
    assert "9.876.543" not in page, "norte's clerk reads the amounts of sur's invoice"


def test_a_dte_forged_in_one_mailbox_does_not_rewrite_what_another_mailbox_reads(client, tmp_path):
    """The same key the other way round: a made-up DTE mailed to `norte` first decides the fields
    (receiver, amounts, printable) that `sur`'s users read for the genuine invoice arriving later."""
    _mailbox_with(tmp_path, "norte", _dte(receiver=FORGED_RECEIVER, lines=FORGED_LINES), sender="attacker@example.com")
    sur = _mailbox_with(
        tmp_path, "sur", _dte(receiver=GENUINE_RECEIVER, lines=GENUINE_LINES), sender="dte@sur-proveedor.cl"
    )
    page = _document_page(client, clerk_of(sur, username="sur-clerk"), sur)
    assert FORGED_RECEIVER not in page, "sur's clerk reads what norte's sender wrote"
    assert GENUINE_RECEIVER in page, "sur's clerk reads their own invoice"
