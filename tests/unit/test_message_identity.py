"""What makes two mails one: their content, never their Message-ID (mailers reuse them)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage
from webapp.inbox.services.identity import message_fingerprint, message_identify
from webapp.inbox.services.runs import fetch_run_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return Mailbox.objects.create(name="facturas", settings={"path": "/tmp/none"})


def _message(mailbox, source_id: str, message_id: str = "<same@proveedora.cl>") -> MailMessage:
    return MailMessage.objects.create(
        mailbox=mailbox, source_id=source_id, internet_message_id=message_id, subject=source_id
    )


def test_the_first_of_two_with_one_content_is_the_original_and_the_second_its_copy(mailbox):
    first, second = _message(mailbox, "a.eml"), _message(mailbox, "b.eml")
    assert message_identify(message=first, fingerprint="f" * 64) is None
    assert message_identify(message=second, fingerprint="f" * 64) == first
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.copy_of == first and second.content_sha256 == first.content_sha256


def test_the_database_refuses_two_originals_of_one_content(mailbox):
    first, second = _message(mailbox, "a.eml"), _message(mailbox, "b.eml")
    message_identify(message=first, fingerprint="e" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        MailMessage.objects.filter(pk=second.pk).update(content_sha256="e" * 64)


def test_the_same_content_in_another_mailbox_is_a_message_of_its_own(mailbox):
    other = Mailbox.objects.create(name="otra", settings={"path": "/tmp/other"})
    message_identify(message=_message(mailbox, "a.eml"), fingerprint="d" * 64)
    assert message_identify(message=_message(other, "a.eml"), fingerprint="d" * 64) is None


def test_the_admin_says_which_mails_share_a_message_id_and_which_is_a_copy(admin_client, mailbox):
    original, other = _message(mailbox, "a.eml"), _message(mailbox, "b.eml")
    copy = _message(mailbox, "c.eml")
    message_identify(message=original, fingerprint="c" * 64)
    message_identify(message=copy, fingerprint="c" * 64)
    page = admin_client.get(reverse("admin:inbox_mailmessage_change", args=[other.pk])).content.decode()
    assert "Shares its Message-ID with" in page
    for shared in (original, copy):
        assert reverse("admin:inbox_mailmessage_change", args=[shared.pk]) in page
    copy_page = admin_client.get(reverse("admin:inbox_mailmessage_change", args=[copy.pk])).content.decode()
    assert "the same mail, its files are kept there" in copy_page
    listed = admin_client.get(reverse("admin:inbox_mailmessage_changelist"), {"copy_of__isempty": "0"})
    assert [row.pk for row in listed.context["cl"].result_list] == [copy.pk]


def _stored(message: MailMessage, position: int, name: str, blob: Blob) -> None:
    Attachment.objects.create(
        message=message, position=position, original_filename=name, filename=name, status="stored", blob=blob
    )


def test_a_crafted_attachment_name_cannot_pass_for_another_mail_s_attachments(mailbox):
    """A Graph name may hold NULs: with the fingerprint's fields joined by NUL, a sender who knew an
    invoice's Message-ID and its XML's hash could send the PDF alone under a name spelling the XML's
    row, come first, and turn the real invoice into a "copy" of theirs, its XML row deleted."""
    xml = Blob.objects.create(sha256="a" * 64, size=900, storage_name="blobs/a")
    pdf = Blob.objects.create(sha256="b" * 64, size=5000, storage_name="blobs/b")
    forged = _message(mailbox, "forged")
    _stored(forged, 0, f"F77.xml\0stored\0{xml.sha256}\0{xml.size}\0" + "1\0F77.pdf", pdf)
    invoice = _message(mailbox, "invoice")
    _stored(invoice, 0, "F77.xml", xml)
    _stored(invoice, 1, "F77.pdf", pdf)
    assert message_identify(message=forged, fingerprint=message_fingerprint(message=forged)) is None
    assert message_identify(message=invoice, fingerprint=message_fingerprint(message=invoice)) is None
    assert invoice.attachments.filter(blob=xml).exists()


@pytest.mark.parametrize(
    "spelling",
    [
        "<same@proveedora.cl>\0000\0F77.xml\0stored\0{sha}\0900",
        '<same@proveedora.cl>", [0, "F77.xml", "stored", "{sha}", 900]',
    ],
    ids=["joined-by-nul", "json"],
)
def test_a_crafted_message_id_cannot_pass_for_another_mail_s_attachments(mailbox, spelling):
    """The same forgery in the Message-ID: a mail with no files at all hid a whole invoice."""
    xml = Blob.objects.create(sha256="c" * 64, size=900, storage_name="blobs/c")
    nothing = _message(mailbox, "forged", message_id=spelling.format(sha=xml.sha256))
    invoice = _message(mailbox, "invoice")
    _stored(invoice, 0, "F77.xml", xml)
    assert message_identify(message=nothing, fingerprint=message_fingerprint(message=nothing)) is None
    assert message_identify(message=invoice, fingerprint=message_fingerprint(message=invoice)) is None


def test_what_goes_along_is_written_once_for_a_new_mail_and_once_for_a_copy(mailbox):
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.RUNNING)
    first, second = _message(mailbox, "a.eml"), _message(mailbox, "b.eml")

    def count() -> None:
        fetch_run_count(run_id=run.pk, attachments_stored=1)

    assert (
        message_identify(message=first, fingerprint="b" * 64, along=count, status=MailMessage.Status.PROCESSED) is None
    )
    run.refresh_from_db()
    assert run.attachments_stored == 1
    assert (
        message_identify(message=second, fingerprint="b" * 64, along=count, status=MailMessage.Status.PROCESSED)
        == first
    )
    run.refresh_from_db()
    second.refresh_from_db()
    assert run.attachments_stored == 2, "the refused UPDATE took its counters back with it"
    assert (second.copy_of, second.status) == (first, MailMessage.Status.PROCESSED)
