"""A forwarded message (a Graph item attachment) is read by the MIME reader too: its limits and problems hold there."""

from __future__ import annotations

import pytest

from tests.support.fake_graph import Attachment, FakeGraph
from tests.support.inline import process_mailbox
from tests.unit.test_mime_limits import HEAD, multipart
from webapp.inbox.models import Mailbox, MailMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph(tmp_path, monkeypatch, redis_client):
    with FakeGraph(tmp_path, page_size=50) as fake:
        for name, value in {**fake.env(), "GRAPH_READ_TIMEOUT": "5", "GRAPH_MAX_ATTEMPTS": "2"}.items():
            monkeypatch.setenv(name, value)
        yield fake


def saved(graph: FakeGraph, *attachments: Attachment) -> MailMessage:
    message = graph.add_message("forwarded", list(attachments))
    mailbox = Mailbox.objects.create(name="graph-limits", kind="graph", settings={"user": graph.user})
    processed = process_mailbox(mailbox)
    assert processed.raised == [], "a forwarded message past a limit ends in a recorded reason"
    return MailMessage.objects.get(source_id=message.id)


def test_what_the_reader_notices_in_a_forwarded_message_is_recorded_on_the_message(graph):
    broken = (
        HEAD + b"Content-Type: multipart/mixed\r\n\r\n--b\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--b--\r\n"
    )
    message = saved(graph, Attachment("FW sin borde", broken, kind="itemAttachment"))
    assert message.status == MailMessage.Status.PROCESSED
    assert message.attachments.get().original_filename == "FW sin borde.eml"
    assert message.error == (
        "forwarded message 'FW sin borde.eml': a multipart/mixed part has no boundary; its content was not read"
    )


def test_a_forwarded_message_past_a_limit_quarantines_the_message(graph):
    parts = multipart(*[b"Content-Type: text/plain\r\n\r\nx"] * 2000)
    message = saved(graph, Attachment("FW enorme", parts, kind="itemAttachment"))
    assert message.status == MailMessage.Status.QUARANTINED
    assert message.error == (
        "The message was not read to its end: its forwarded message 'FW enorme.eml': "
        "it has more than 1000 MIME parts, the limit."
    )
