"""The save's own parse of its small XML, attacked: one XML's trouble never strands the others of its mail,
and a save stopped between settling its mail and parsing leaves the XML to the tick's catch-up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import OperationalError

from pipeline import samples
from pipeline.actors import render, save, save_message
from tests.support.inline import process_mailbox
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, DeliveryState, Mailbox, MailMessage
from webapp.inbox.services.catchup import stale_work_claim

pytestmark = pytest.mark.django_db

FOLIOS = (7201, 7202, 7203)


def _mail_of_three_xml(folder: Path) -> Mailbox:
    folder.mkdir()
    xmls = [(f"DTE_{folio}.xml", "application/xml", samples.dte_xml(folio=folio)) for folio in FOLIOS]
    (folder / "01.eml").write_bytes(samples.supplier_email(attachments=xmls))
    return Mailbox.objects.create(name=folder.name, settings={"path": str(folder)})


def test_an_outage_while_one_xml_is_parsed_leaves_the_others_to_the_render_queue(tmp_path, redis_client, monkeypatch):
    """The database goes away during the first XML's parse and stays away until the save returns.

    On the render-queue path each XML had its own message: the first one's outage stranded none of
    the others. Parsed in the save, the first failure's own recording fails too; that must not end the
    save's loop with the other XML neither parsed nor sent (they would wait for the catch-up's stale period).
    """
    away = {"now": False}
    real_process = render.xml_attachment_process

    def process(*, attachment, last_attempt):
        if attachment.position == 0 and not Document.objects.filter(folio=FOLIOS[0]).exists():
            away["now"] = True
        if away["now"]:
            raise OperationalError("server closed the connection unexpectedly")
        return real_process(attachment=attachment, last_attempt=last_attempt)

    def while_away(real):
        def call(**kwargs):
            if away["now"]:
                raise OperationalError("server closed the connection unexpectedly")
            return real(**kwargs)

        return call

    for name in ("attachment_begin_render", "attachment_end_render", "attachment_finish_render"):
        monkeypatch.setattr(render, name, while_away(getattr(render, name)))
    monkeypatch.setattr(render, "xml_attachment_process", process)
    real_save = save_message.fn

    def save_then_back(message_id):
        try:
            return real_save(message_id)
        finally:
            away["now"] = False  # the database is back for the render queue's deliveries

    monkeypatch.setattr(save_message, "fn", save_then_back)

    processed = process_mailbox(_mail_of_three_xml(tmp_path / "outage-7201"))

    assert MailMessage.objects.get().settled_at is not None
    parsed = set(Document.objects.values_list("folio", flat=True))
    assert {FOLIOS[1], FOLIOS[2]} <= parsed, f"the other XML of the mail were stranded: parsed {sorted(parsed)}"
    assert [name for name, *_ in processed.raised] == [], "a settled save reports the preview's trouble, not its own"


def test_a_save_stopped_after_settling_leaves_its_xml_to_the_catch_up(tmp_path, redis_client, monkeypatch):
    """The worker dies between message_end_delivery and the parse: no render message exists, and the
    re-delivered save finds its mail settled. The XML stay PENDING and idle: the tick sends them again."""

    def died(attachment_ids):
        raise SystemExit("the worker process died here")

    monkeypatch.setattr(save, "render_soon", died)
    with pytest.raises(SystemExit):
        process_mailbox(_mail_of_three_xml(tmp_path / "died-7201"))
    message = MailMessage.objects.get()
    assert message.settled_at is not None and message.delivery_state == DeliveryState.IDLE
    save_message.fn(message.pk)  # Redis hands the save out again: nothing left to do for it
    xml = list(Attachment.objects.order_by("position"))
    assert {a.preview_status for a in xml} == {Attachment.PreviewStatus.PENDING}
    assert {a.delivery_state for a in xml} == {DeliveryState.IDLE}

    Attachment.objects.update(updated_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # past the stale period
    assert sorted(stale_work_claim().previews) == [a.pk for a in xml]
