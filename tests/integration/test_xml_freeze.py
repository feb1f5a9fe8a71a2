"""One hostile factura.xml against the Procfile's real worker: refused unread, the other mailbox's invoice arrives.

The payload is UTF-16 and its internal subset declares an external parameter entity naming a
named pipe that a tripwire holds open and never writes to (tests/support/tripwires.py): a parse
that opens it waits for ever. Before the fix the DOCTYPE check (over raw bytes) missed UTF-16
and libxml2 opened the pipe; the render thread blocked and, behind the class-wide lock of
`cached_property`, so did every other XML parse. Now the pipe is never opened, the attachment is
recorded as refused with a reason, the invoice mailed to another mailbox becomes a Document,
and the catch-up of the ticks that follow does not send the refused attachment again.
"""

from __future__ import annotations

import codecs
import time

import pytest
import redis

from pipeline import queues, samples
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.database import attached_database
from tests.support.processes import ProcfileProcess, run_procfile_once, wait_for
from tests.support.tripwires import FifoTripwire
from webapp.documents.models import Document, XmlClassification
from webapp.inbox.models import Attachment, Mailbox

pytestmark = [pytest.mark.slow]

DTD_REFUSED = "the XML declares a DTD (DOCTYPE); refused: entities are never expanded or fetched"


def utf16_payload(entity_path: str) -> bytes:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        f'<!DOCTYPE EnvioDTE [<!ENTITY % d SYSTEM "file://{entity_path}"> %d;]>\n'
        '<EnvioDTE xmlns="http://www.sii.cl/SiiDte" version="1.0"><SetDTE ID="SetDoc"/></EnvioDTE>'
    )
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def _env(tmp_path, redis_url: str) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'freeze.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "freeze-test-secret-key-0123456789-abcdefghijklmnopqrstuv",
        "DEBUG": "false",
        "HTTPS": "false",
        "SCHEDULER_TICK_ON_START": "true",
        "SCHEDULE_CRON": "*/2 * * * * *",
        "PIPELINE_STALE_SECONDS": "3",
        "SANDBOX_WALL_SECONDS": "8",  # before the fix, the blocked parse is killed here and the test ends
        "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }


def test_a_utf16_entity_naming_a_pipe_is_refused_unread_and_the_other_mailbox_flows(tmp_path, django_db_blocker):
    norte, sur = tmp_path / "norte", tmp_path / "sur"
    norte.mkdir(), sur.mkdir(), (tmp_path / "logs").mkdir()
    with (
        EmbeddedRedis.start(tmp_path / "redis") as server,
        FifoTripwire(tmp_path / "never-written.fifo", hold=True) as pipe,
    ):
        env = _env(tmp_path, server.url)
        run_procfile_once("release", env)
        (norte / "01-payload.eml").write_bytes(
            samples.supplier_email(
                folio=666,
                message_id="<payload@b.cl>",
                attachments=[("factura.xml", "application/xml", utf16_payload(str(pipe.path)))],
            )
        )
        invoice = samples.dte_xml(folio=4242)
        (sur / "01-invoice.eml").write_bytes(
            samples.supplier_email(
                folio=4242, message_id="<invoice@b.cl>", attachments=[("DTE_4242.xml", "application/xml", invoice)]
            )
        )
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            Mailbox.objects.using(db).create(name="norte", settings={"path": str(norte)})
            Mailbox.objects.using(db).create(name="sur", settings={"path": str(sur)})
            worker = ProcfileProcess("worker", env, tmp_path / "logs")
            scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
            processes = [worker, scheduler]
            try:
                started = time.monotonic()
                wait_for(
                    lambda: Document.objects.using(db).filter(folio=4242).exists(),
                    timeout=60,
                    what="the invoice mailed to sur",
                    processes=processes,
                )
                payload = wait_for(
                    lambda: (
                        XmlClassification.objects.using(db).filter(attachment__original_filename="factura.xml").first()
                    ),
                    timeout=60,
                    what="the payload's outcome",
                    processes=processes,
                )
                settled_in = time.monotonic() - started
                # Three more ticks (over 4 s, past PIPELINE_STALE_SECONDS), and all they sent handled.
                handled = worker.log().count("tick done in")
                client = redis.Redis.from_url(server.url)
                wait_for(
                    lambda: (
                        worker.log().count("tick done in") >= handled + 3
                        and all(q["ready"] == 0 for q in queues.queue_stats(client).values())
                    ),
                    timeout=30,
                    what="three more ticks handled",
                    processes=processes,
                )
                client.close()
                attachment = Attachment.objects.using(db).get(original_filename="factura.xml")
                again = XmlClassification.objects.using(db).get(attachment=attachment)
                invoice_mailbox = Document.objects.using(db).get(folio=4242).xml_attachment.message.mailbox.name
            finally:
                codes = {p.name: p.stop() for p in processes}
    assert not pipe.opened.is_set(), "the parser opened the pipe the entity names"
    assert payload.status == XmlClassification.Status.FAILED
    assert payload.error == DTD_REFUSED
    assert attachment.preview_status == Attachment.PreviewStatus.FAILED
    assert attachment.preview_error == DTD_REFUSED
    assert str(tmp_path) not in attachment.preview_error
    assert again.parsed_at == payload.parsed_at, "the catch-up parsed the refused attachment again"
    assert attachment.delivery_attempts == 0, "no render delivery left unreported"
    assert invoice_mailbox == "sur"
    assert codes == {"worker": 0, "scheduler": 0}, worker.log()[-3000:]
    print(f"\nUTF-16 entity payload refused and the other mailbox's invoice in {settled_in:.1f} s")
