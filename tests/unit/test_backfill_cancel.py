"""Backfill runs carry their listing options; a cancelled run's queued work is dropped, then taken over."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from pipeline import config, samples
from webapp.inbox.models import FetchRun, Mailbox, MailMessage
from webapp.inbox.services.catchup import stale_work_claim
from webapp.inbox.services.messages import message_begin_delivery, message_save
from webapp.inbox.services.runs import (
    fetch_run_cancel,
    fetch_run_create,
    fetch_run_execute,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(3):
        (inbox / f"{number}.eml").write_bytes(
            samples.supplier_email(
                folio=number + 1, attachments=[("DTE.xml", "application/xml", samples.dte_xml(folio=number + 1))]
            )
        )
    return Mailbox.objects.create(name="suppliers", settings={"path": str(inbox)})


def test_a_cancelled_backfill_drops_its_queued_work_and_a_later_run_takes_it_over(mailbox):
    backfill = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.BACKFILL, options={"since": "2000-01-01"})
    queued: list[int] = []
    fetch_run_execute(run=backfill, on_new_message=queued.append)
    assert len(queued) == 3

    assert fetch_run_cancel(run_id=backfill.pk)
    backfill.refresh_from_db()
    assert backfill.status == FetchRun.Status.CANCELLED
    assert all(message_begin_delivery(message_id=pk) is None for pk in queued), "queued work is dropped"
    MailMessage.objects.update(updated_at=timezone.now() - dt.timedelta(seconds=config.STALE_AFTER_SECONDS + 60))
    assert stale_work_claim().messages == [], "the catch-up does not resurrect it"

    regular = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.SCHEDULE)
    taken: list[int] = []
    fetch_run_execute(run=regular, on_new_message=taken.append)
    assert sorted(taken) == sorted(queued)
    for pk in taken:
        message_save(message=message_begin_delivery(message_id=pk))
    regular.refresh_from_db()
    assert regular.status == FetchRun.Status.COMPLETED and regular.messages_new == 3
    assert MailMessage.objects.filter(status=MailMessage.Status.PROCESSED).count() == 3


def test_listing_options_are_checked_and_reach_the_source(mailbox):
    with pytest.raises(ValueError):
        fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.BACKFILL, options={"sinse": "2024-01-01"})
    future = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.BACKFILL, options={"since": "2999-01-01"})
    fetch_run_execute(run=future, on_new_message=lambda pk: None)
    future.refresh_from_db()
    assert future.messages_seen == 0 and future.status == FetchRun.Status.COMPLETED


def test_add_mailbox_stores_graph_settings():
    call_command("add_mailbox", "m365", "--graph", "invoices@contoso.com", "--processed-folder", "Hecho")
    call_command(
        "add_mailbox", "m365-read", "--graph", "ap@contoso.com", "--graph-folder", "Inbox/Facturas", "--mark-read"
    )
    assert Mailbox.objects.get(name="m365").settings == {
        "user": "invoices@contoso.com",
        "folder": "Inbox",
        "include_inline": False,
        "processed_folder": "Hecho",
    }
    read = Mailbox.objects.get(name="m365-read")
    assert read.kind == "graph" and read.settings["mark_read"] and read.settings["folder"] == "Inbox/Facturas"


def test_the_admin_shows_which_graph_secrets_are_set_never_their_values(admin_client, monkeypatch):
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", "s3cr3t-value-never-shown")
    monkeypatch.delenv("GRAPH_CLIENT_CERTIFICATE_PATH", raising=False)
    mailbox = Mailbox.objects.create(name="m365", kind="graph", settings={"user": "a@contoso.com"})
    page = admin_client.get(f"/admin/inbox/mailbox/{mailbox.pk}/change/", secure=True).content.decode()
    assert "GRAPH_CLIENT_SECRET set" in page and "GRAPH_CLIENT_CERTIFICATE_PATH not set" in page
    assert "s3cr3t-value-never-shown" not in page


def test_a_run_is_cancelled_from_the_admin(admin_client, mailbox):
    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.BACKFILL, options={"since": "2000-01-01"})
    answer = admin_client.post(
        "/admin/inbox/fetchrun/", {"action": "cancel_runs", "_selected_action": [run.pk]}, secure=True
    )
    assert answer.status_code == 302
    run.refresh_from_db()
    assert run.status == FetchRun.Status.CANCELLED
