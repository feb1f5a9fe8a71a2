"""The pipeline dashboard in the admin: state, and the fetch / retry / re-render actions."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from pipeline.schedule import Schedule
from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(redis_client):
    return Mailbox.objects.create(name="facturas", settings={"path": "/tmp/none"})


def test_the_admin_index_links_to_the_dashboard_which_shows_the_state(admin_client, mailbox):
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.FAILED, error="Graph said no")
    MailMessage.objects.create(
        mailbox=mailbox,
        source_id="q",
        subject="Factura rota",
        status=MailMessage.Status.QUARANTINED,
        error="killed its worker 5 times",
    )
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("pipeline_dashboard") in index
    page = admin_client.get(reverse("pipeline_dashboard")).content.decode()
    for text in (
        "facturas",
        "Graph said no",
        "Factura rota",
        "killed its worker",
        'id="queues"',
        "Retry 1 failed message",
    ):
        assert text in page, text


def test_retry_and_rerender_reset_and_send_again(admin_client, mailbox, redis_client):
    message = MailMessage.objects.create(
        mailbox=mailbox, source_id="q", status=MailMessage.Status.QUARANTINED, delivery_attempts=5, error="boom"
    )
    attachment = Attachment.objects.create(
        message=message,
        position=0,
        original_filename="a.pdf",
        filename="a.pdf",
        status=Attachment.Status.STORED,
        preview_status=Attachment.PreviewStatus.FAILED,
        preview_error="bad pdf",
    )
    url = reverse("pipeline_dashboard")
    assert admin_client.post(url, {"action": "retry"}).status_code == 302
    message.refresh_from_db()
    assert (message.status, message.delivery_attempts, message.error) == (MailMessage.Status.PENDING, 0, "")
    assert admin_client.post(url, {"action": "rerender"}).status_code == 302
    attachment.refresh_from_db()
    assert attachment.preview_status == Attachment.PreviewStatus.PENDING and attachment.preview_error == ""
    assert admin_client.post(url, {"action": "fetch"}).status_code == 302
    assert FetchRun.objects.filter(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL).exists()


def test_staff_without_the_permission_cannot_act(client, django_user_model, mailbox):
    user = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("pipeline_dashboard")).status_code == 403


def test_the_dashboard_shows_the_next_mailbox_read_in_local_time(admin_client, mailbox):
    page = admin_client.get(reverse("pipeline_dashboard"), HTTP_ACCEPT_LANGUAGE="es-cl").content.decode()
    line = re.search(r'<p id="next-read">([^<]*)</p>', page)
    assert line, page[-2000:]
    label, _, when = line[1].partition(": ")
    assert label == "Próxima lectura del buzón"
    shown = dt.datetime.strptime(when, "%d-%m-%Y %H:%M").replace(tzinfo=ZoneInfo("America/Santiago"))
    expected = Schedule.from_settings().next_after(dt.datetime.now(dt.UTC))
    assert abs(shown - expected) < dt.timedelta(minutes=1)  # Santiago's wall clock, not UTC's
