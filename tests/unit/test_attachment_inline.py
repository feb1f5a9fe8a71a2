"""The message page shows its first attachments and links to all of them: a page of 5,000 rows was 10.7 MB."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from tests.unit.test_web import PDF_BYTES, store_blob
from webapp.inbox.inlines import FirstRowsFormSet
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

MANY = 5000
#: The page of a message with 50 rows and their thumbnails weighs some 100 KB.
MOST_BYTES = 300 * 1024


def message_with(count: int, *, name: str = "many") -> MailMessage:
    mailbox = Mailbox.objects.create(name=f"{name}-box", settings={"path": "/tmp/none"})
    message = MailMessage.objects.create(
        mailbox=mailbox, source_id=f"{name}.eml", subject=name, status=MailMessage.Status.PROCESSED
    )
    blob = Blob.objects.filter(size=len(PDF_BYTES)).first() or store_blob(PDF_BYTES)
    Attachment.objects.bulk_create(
        Attachment(
            message=message,
            position=position,
            original_filename=f"dte-{position}.pdf",
            filename=f"dte-{position}.pdf",
            content_type="application/pdf",
            blob=blob,
            status=Attachment.Status.STORED,
        )
        for position in range(count)
    )
    return message


def test_the_page_of_a_message_of_five_thousand_attachments_is_small_and_links_to_them_all(admin_client):
    message = message_with(MANY)
    response = admin_client.get(reverse("admin:inbox_mailmessage_change", args=[message.pk]))
    page = response.content.decode()
    print(f"\nmessage page with {MANY} attachments: {len(response.content) / 1024:.0f} KB")
    assert response.status_code == 200 and len(response.content) < MOST_BYTES
    shown = FirstRowsFormSet.rows_shown
    assert "dte-0.pdf" in page and f"dte-{shown - 1}.pdf" in page and f"dte-{shown}.pdf" not in page
    assert f"Showing the first {shown} of {MANY} attachments." in page
    link = reverse("admin:inbox_attachment_changelist") + f"?message__id__exact={message.pk}"
    assert f'<a href="{html.escape(link)}">See all {MANY} attachments</a>' in page

    listed = admin_client.get(link)
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == MANY, "the link lists every attachment of the message"


def test_a_message_of_one_attachment_more_than_shown_links_to_the_rest(admin_client):
    shown = FirstRowsFormSet.rows_shown
    whole = message_with(shown)
    page = admin_client.get(reverse("admin:inbox_mailmessage_change", args=[whole.pk])).content.decode()
    assert f"dte-{shown - 1}.pdf" in page and "See all" not in page
    message = message_with(shown + 1, name="one-more")
    page = admin_client.get(reverse("admin:inbox_mailmessage_change", args=[message.pk])).content.decode()
    assert f"See all {shown + 1} attachments" in page
    listed = admin_client.get(reverse("admin:inbox_attachment_changelist"), {"message__id__exact": message.pk})
    assert {row.message_id for row in listed.context["cl"].queryset} == {message.pk}, "only this message's"


def test_the_link_reads_in_spanish(admin_client):
    message = message_with(FirstRowsFormSet.rows_shown + 1)
    page = admin_client.get(
        reverse("admin:inbox_mailmessage_change", args=[message.pk]), HTTP_ACCEPT_LANGUAGE="es-CL,es;q=0.9"
    ).content.decode()
    assert "Se muestran los primeros 50 de 51 adjuntos." in page and "Ver los 51 adjuntos" in page
