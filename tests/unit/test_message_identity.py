"""What makes two mails one: their content, never their Message-ID (mailers reuse them)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from webapp.inbox.models import Mailbox, MailMessage
from webapp.inbox.services.identity import message_identify

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
