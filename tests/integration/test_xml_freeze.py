"""One hostile factura.xml against the Procfile's real worker: refused unread, the other mailbox's invoice arrives.

The payload is UTF-16 and its internal subset declares an external parameter entity naming a
named pipe that a tripwire holds open and never writes to (tests/support/tripwires.py): a parse
that opens it waits for ever. Before the fix the DOCTYPE check (over raw bytes) missed UTF-16
and libxml2 opened the pipe; the render thread blocked and, behind the class-wide lock of
`cached_property`, so did every other XML parse. Now the pipe is never opened, the attachment is
recorded as refused with a reason, the invoice mailed to another mailbox becomes a Document,
and the catch-up of the ticks that follow does not send the refused attachment again.

Beside the payload travels a 19.5 MB DTE whose parse takes longer than the sandbox's wall-clock
deadline (0.5 s here): a parse that does not end is killed, the attachment is recorded as failed
with the reason, and the catch-up does not send it again either.
"""

from __future__ import annotations

import codecs
import time

import pytest
import redis

from pipeline import queues, samples
from pipeline.embedded_redis import EmbeddedRedis
from tests.support import hostile_files
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


def _outcomes(db: str) -> dict[str, XmlClassification]:
    """The XML outcomes of mailbox norte's attachments, by file name."""
    found = XmlClassification.objects.using(db).filter(attachment__message__mailbox__name="norte")
    return {c.attachment.original_filename: c for c in found.select_related("attachment")}


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
        "SANDBOX_WALL_SECONDS": "0.5",  # the huge DTE takes longer; before the fix, so did the blocked parse
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
                attachments=[
                    ("factura.xml", "application/xml", utf16_payload(str(pipe.path))),
                    ("envio.xml", "application/xml", hostile_files.huge_dte()),
                ],
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
                outcomes = wait_for(
                    lambda: found if len(found := _outcomes(db)) == 2 else None,
                    timeout=60,
                    what="the outcomes of factura.xml and envio.xml",
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
                again = _outcomes(db)
                attachments = {
                    a.original_filename: a for a in Attachment.objects.using(db).filter(message__mailbox__name="norte")
                }
                invoice_mailbox = Document.objects.using(db).get(folio=4242).xml_attachment.message.mailbox.name
            finally:
                codes = {p.name: p.stop() for p in processes}
    assert not pipe.opened.is_set(), "the parser opened the pipe the entity names"
    reasons = {"factura.xml": DTD_REFUSED, "envio.xml": "reading the XML took longer than 0.5 s; not parsed"}
    for name, reason in reasons.items():
        assert (outcomes[name].status, outcomes[name].error) == (XmlClassification.Status.FAILED, reason)
        preview = (attachments[name].preview_status, attachments[name].preview_error)
        assert preview == (Attachment.PreviewStatus.FAILED, reason)
        assert again[name].parsed_at == outcomes[name].parsed_at, f"the catch-up parsed {name} again"
        assert attachments[name].delivery_attempts == 0, "no render delivery left unreported"
    assert invoice_mailbox == "sur"
    assert codes == {"worker": 0, "scheduler": 0}, worker.log()[-3000:]
    print(f"\nUTF-16 entity refused, huge DTE cut at the deadline, the other mailbox's invoice: {settled_in:.1f} s")
