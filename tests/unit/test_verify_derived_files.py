"""verify_storage checks what is made from the Blobs too: previews, printables and their thumbnails.

Real files are deleted from the storage; the command reports each, --repair sets a preview's row back
to pending, and the render actor (what the tick's catch-up sends) makes it again; a printable goes back
to "on request", and its next request makes it again.
"""

from __future__ import annotations

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline import samples
from tests.support.inline import process_mailbox
from tests.support.printables import make_printables
from tests.support.thumbnails import make_thumbnail
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, Mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def processed_invoice(tmp_path, redis_client):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "01.eml").write_bytes(samples.supplier_email(folio=777))  # a DTE XML and its PDF
    processed = process_mailbox(Mailbox.objects.create(name="suppliers", settings={"path": str(inbox)}))
    assert processed.raised == []
    pdf = Attachment.objects.get(content_type="application/pdf")
    xml = Attachment.objects.exclude(pk=pdf.pk).get()
    assert Document.objects.get().printable_status == Document.PrintableStatus.ON_REQUEST
    assert xml.preview_status == Attachment.PreviewStatus.NONE, "its preview comes with the printable"
    call_command("verify_storage")  # nothing made yet: nothing missing
    (document,) = make_printables()  # a first request
    pdf = make_thumbnail(pdf)  # and the PDF's
    xml.refresh_from_db()
    assert pdf.preview_status == xml.preview_status == Attachment.PreviewStatus.READY
    assert document.printable_status == Document.PrintableStatus.READY
    return pdf, xml, document


def _remake_pending() -> None:
    """What the tick's catch-up does with pending previews: the render actor, once each."""
    from pipeline.actors import render_attachment

    for attachment_id in Attachment.objects.filter(preview_status=Attachment.PreviewStatus.PENDING).values_list(
        "pk", flat=True
    ):
        render_attachment.fn(attachment_id)


def test_missing_previews_and_printables_are_reported_and_made_again(processed_invoice, capsys):
    pdf, xml, document = processed_invoice
    storage = storages["default"]
    call_command("verify_storage")
    assert "previews and printables: 0 missing" in capsys.readouterr().out

    for name in (pdf.preview_name, document.printable_name, document.preview_name):
        storage.delete(name)
    with pytest.raises(CommandError, match="4 stored files are missing"):
        call_command("verify_storage")
    out = capsys.readouterr().out
    assert f"preview of attachment {pdf.pk} ({pdf.preview_name}): missing from storage" in out
    assert f"printable of document {document.pk} ({document.printable_name}): missing from storage" in out
    assert f"thumbnail of document {document.pk} ({document.preview_name}): missing from storage" in out
    assert f"preview of attachment {xml.pk} ({document.preview_name}): missing from storage" in out, "the same PNG"
    assert "2 blobs checked, 0 with problems" in out, "the Blobs themselves are sound"

    call_command("verify_storage", "--repair")
    out = capsys.readouterr().out
    assert "reset to pending" not in out, out
    # the printable and its thumbnail, the PDF's preview; the XML's preview waits with the printable
    assert out.count("-> reset: made again on its next request") == 3, out
    assert "3 missing, 3 reset to be made again, 0 still missing" in out
    pdf.refresh_from_db()
    document.refresh_from_db()
    assert pdf.preview_status == Attachment.PreviewStatus.ON_REQUEST and pdf.preview_name == ""
    assert document.printable_status == Document.PrintableStatus.ON_REQUEST
    assert Attachment.objects.get(pk=xml.pk).preview_status == Attachment.PreviewStatus.NONE

    _remake_pending()
    assert Attachment.objects.get(pk=xml.pk).preview_status == Attachment.PreviewStatus.NONE, "not sent to the worker"
    (document,) = make_printables()
    pdf = make_thumbnail(pdf)
    assert pdf.preview_status == Attachment.PreviewStatus.READY and storage.exists(pdf.preview_name)
    assert document.printable_status == Document.PrintableStatus.READY
    assert storage.exists(document.printable_name) and storage.exists(document.preview_name)
    assert Attachment.objects.get(pk=xml.pk).preview_name == document.preview_name
    call_command("verify_storage")
    assert "previews and printables: 0 missing" in capsys.readouterr().out
