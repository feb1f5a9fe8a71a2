"""Log lines: JSON objects with the unit of work's context (LOG_FORMAT=json), readable lines otherwise."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from pipeline import logs
from pipeline.config import BASE_DIR, ConfigError
from pipeline.middleware.log_context import LogContext


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test-logs-{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_lines_carry_context_extra_fields_and_exceptions():
    logs.clear_context()
    logger, stream = _capture(logs.JsonFormatter())
    with logs.bind(actor="save_message", run_id=7, mailbox="facturas"):
        logger.info("stored %d attachments", 2, extra={"bytes": 1234})
        try:
            raise ValueError("bad «input»")
        except ValueError:
            logger.exception("failed")
    logger.info("outside")
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "stored 2 attachments" and first["level"] == "INFO"
    assert (first["actor"], first["run_id"], first["mailbox"], first["bytes"]) == ("save_message", 7, "facturas", 1234)
    assert first["time"].endswith("Z")
    assert "ValueError: bad «input»" in second["exception"]
    assert "actor" not in third, "the context ends with its block"


def test_plain_lines_are_readable_with_the_context_at_the_end():
    logs.clear_context()  # an actor called directly in this thread (another test) leaves its fields
    logger, stream = _capture(logs.PlainFormatter())
    with logs.bind(actor="tick", message_id="abc"):
        logger.warning("slow")
    line = stream.getvalue().strip()
    assert " WARNING test-logs-" in line and line.endswith("slow [actor=tick message_id=abc]")


def test_gunicorn_access_lines_become_fields():
    logger, stream = _capture(logs.JsonFormatter())
    access = logging.getLogger("gunicorn.access")
    record = access.makeRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '%(h)s "%(r)s" %(s)s',
        (
            {
                "h": "10.0.0.1",
                "m": "GET",
                "U": "/health/",
                "s": "200",
                "B": "15",
                "D": "2500",
                "a": "kube-probe/1.30",
                "r": "GET /health/ HTTP/1.1",
            },
        ),
        None,
    )
    logger.handle(record)
    line = json.loads(stream.getvalue())
    assert line["logger"] == "gunicorn.access"
    assert (line["method"], line["path"], line["status"], line["bytes"], line["duration_ms"]) == (
        "GET",
        "/health/",
        200,
        15,
        2.5,
    )
    assert line["message"] == "GET /health/ 200"


def test_an_unknown_format_is_an_error(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError):
        logs.log_format()


def test_the_middleware_puts_actor_message_id_ids_and_duration_on_every_line():
    broker = StubBroker(middleware=[LogContext()])
    broker.emit_after("process_boot")
    logger, stream = _capture(logs.JsonFormatter())
    middleware_logger = logging.getLogger("pipeline.middleware.log_context")
    middleware_logger.addHandler(logger.handlers[0])
    middleware_logger.setLevel(logging.INFO)

    @dramatiq.actor(broker=broker)
    def save_message(message_id: int) -> None:
        logs.add_context(run_id=3, mailbox="facturas")
        logger.info("saving")

    try:
        sent = save_message.send(42)
        worker = dramatiq.Worker(broker, worker_timeout=50)
        worker.start()
        broker.join(save_message.queue_name)
        worker.join()
        worker.stop()
    finally:
        middleware_logger.removeHandler(logger.handlers[0])
    inside, done = (json.loads(line) for line in stream.getvalue().splitlines())
    for line in (inside, done):
        assert line["actor"] == "save_message" and line["message_id"] == sent.message_id
        assert (line["mail_id"], line["run_id"], line["mailbox"], line["queue"]) == (42, 3, "facturas", "default")
    assert done["outcome"] == "ok" and done["duration_ms"] >= 0
    assert done["message"].startswith("save_message done in ")


def test_the_scheduler_logs_json_without_django(tmp_path):
    code = (
        "import logging, scheduler\nfrom pipeline import logs\nlogs.configure()\n"
        "logging.getLogger('scheduler').info('tick sent for slot %s', 'x')\n"
        "import sys; print('django' in sys.modules)"
    )
    env = dict(os.environ, LOG_FORMAT="json", STATE_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert (line["logger"], line["message"]) == ("scheduler", "tick sent for slot x")
    assert result.stdout.strip() == "False"
