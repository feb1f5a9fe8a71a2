"""Hostile mail through the Graph source: the fake Graph over real HTTPS, real MSAL, our services and storage.

The folder-source twin is tests/unit/test_hostile_input.py. Every case ends with a readable
recorded reason (or is handled as the ordinary thing it is) and leaves the well-formed message
that travels with it untouched.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline import config
from tests.support.fake_graph import Attachment, FakeGraph
from tests.support.inline import process_mailbox
from tests.support.thumbnails import make_thumbnail
from tests.unit.test_hostile_input import GOOD_PDF, nested_message, pdf, unclosed_boundary
from webapp.documents.models import XmlClassification
from webapp.inbox.models import Attachment as Row
from webapp.inbox.models import FetchRun, Mailbox, MailMessage
from webapp.inbox.services.runs import fetch_run_create, fetch_run_execute

pytestmark = pytest.mark.django_db

XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10) for n in range(1, 10))
    + b"]><EnvioDTE>&lol9;</EnvioDTE>"
)
XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><DTE>&x;</DTE>'


def png() -> bytes:
    image = io.BytesIO()
    Image.new("RGB", (40, 20), "blue").save(image, format="PNG")
    return image.getvalue()


@pytest.fixture
def graph(tmp_path, monkeypatch, redis_client):
    with FakeGraph(tmp_path, page_size=50) as fake:
        for name, value in {
            **fake.env(),
            "GRAPH_READ_TIMEOUT": "5",
            "GRAPH_CONNECT_TIMEOUT": "2",
            "GRAPH_BACKOFF_SECONDS": "0.05",
            "GRAPH_MAX_ATTEMPTS": "2",
        }.items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def run_graph(graph):
    """Add the given messages (plus one well-formed one) to the fake mailbox, fetch, save and render them."""

    def run(*messages: tuple[str, list[Attachment]]):
        good = graph.add_message("good", [Attachment("good.pdf", GOOD_PDF, "application/pdf")])
        added = [graph.add_message(subject, attachments) for subject, attachments in messages]
        mailbox = Mailbox.objects.create(
            name="hostile-graph", kind="graph", settings={"user": graph.user, "processed_folder": "Processed"}
        )
        processed = process_mailbox(mailbox)
        assert processed.raised == [], "hostile input ends in a recorded reason, not in an actor's exception"
        run = processed.run
        good_row = Row.objects.get(message__source_id=good.id)
        assert good_row.status == Row.Status.STORED and good_row.preview_status == Row.PreviewStatus.ON_REQUEST
        assert make_thumbnail(good_row).preview_status == Row.PreviewStatus.READY, "its thumbnail, once asked for"
        assert MailMessage.objects.get(source_id=good.id).status == MailMessage.Status.PROCESSED
        return run, added

    return run


def rows(message) -> list[Row]:
    return list(Row.objects.filter(message__source_id=message.id).select_related("blob").order_by("position"))


NAMES = [
    ("dotdot", "../../../etc/passwd.pdf", "passwd.pdf"),
    ("absolute", "/etc/cron.d/evil.pdf", "evil.pdf"),
    ("windows", "C:\\Windows\\evil.pdf", "evil.pdf"),
    ("nul", "nul\x00name.pdf", "nul_name.pdf"),
    ("control", "fac\x07tura\x1b.pdf", "fac_tura_.pdf"),
    ("long", "b" * 300 + ".pdf", "b" * 146 + ".pdf"),
    ("quote-crlf", 'factura ñ"\r\nX-Evil: 1.pdf', "factura ñ___X-Evil_ 1.pdf"),
]


@pytest.mark.parametrize(("case", "raw", "clean"), NAMES, ids=[n[0] for n in NAMES])
def test_hostile_names_are_recorded_raw_and_cleaned_for_download(run_graph, case, raw, clean):
    _, (message,) = run_graph(("names", [Attachment(raw, GOOD_PDF, "application/pdf")]))
    (row,) = rows(message)
    assert row.original_filename == raw and row.filename == clean
    assert row.blob.storage_name == f"blobs/{row.blob.sha256[:2]}/{row.blob.sha256[2:4]}/{row.blob.sha256}"


def test_over_the_size_cap_fails_with_its_reason(run_graph, monkeypatch):
    monkeypatch.setattr(config, "MAX_ATTACHMENT_BYTES", len(GOOD_PDF) + 10)
    run, (message,) = run_graph(
        ("huge", [Attachment("huge.xml", b"<a>" + b"x" * (len(GOOD_PDF) + 100) + b"</a>", "application/xml")])
    )
    (row,) = rows(message)
    assert row.status == Row.Status.FAILED and "limit" in row.error and row.blob is None
    assert run.status == FetchRun.Status.COMPLETED_WITH_ERRORS


def test_zero_bytes_is_skipped_with_its_reason(run_graph):
    _, (message,) = run_graph(("empty", [Attachment("empty.pdf", b"", "application/pdf")]))
    (row,) = rows(message)
    assert row.status == Row.Status.SKIPPED and "0 bytes" in row.error


def test_a_forwarded_message_with_an_unclosed_boundary_keeps_what_arrived(run_graph):
    _, (message,) = run_graph(("cut", [Attachment("FW cortado", unclosed_boundary(), kind="itemAttachment")]))
    found = {r.original_filename: r for r in rows(message)}
    assert "cut.xml" in found and "never closed" in found["cut.xml"].error


def test_sixty_five_attachments(run_graph):
    parts = [Attachment(f"dte-{n}.xml", f"<DTE n='{n}'/>".encode(), "application/xml") for n in range(65)]
    _, (message,) = run_graph(("many", parts))
    assert len(rows(message)) == 65
    assert MailMessage.objects.get(source_id=message.id).status == MailMessage.Status.PROCESSED


def test_a_nested_message_is_stored_as_eml_and_its_attachments_too(run_graph):
    _, (message,) = run_graph(("fwd", [Attachment("FW factura", nested_message(), kind="itemAttachment")]))
    names = {r.original_filename for r in rows(message)}
    assert "inner.pdf" in names and any(n.endswith(".eml") for n in names)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bomb.xml", XML_BOMB, "DOCTYPE"),
        ("xxe.xml", XXE, "DOCTYPE"),
    ],
    ids=["xml-bomb", "external-entity"],
)
def test_xml_bomb_and_external_entity_are_refused_with_the_reason(run_graph, name, data, reason):
    _, (message,) = run_graph(("xml", [Attachment(name, data, "application/xml")]))
    (row,) = rows(message)
    assert row.status == Row.Status.STORED, "the file is kept for the record"
    classification = XmlClassification.objects.get(attachment=row)
    assert reason in classification.error and "entities are never expanded" in classification.error
    row.refresh_from_db()
    assert row.preview_status == Row.PreviewStatus.FAILED and reason in row.preview_error
    assert b"root:" not in (classification.summary or "").encode()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("corrupt.pdf", GOOD_PDF[: len(GOOD_PDF) // 2], "damaged"),
        ("encrypted.pdf", None, "encrypted"),
        ("absurd.pdf", None, "absurd"),
    ],
    ids=["corrupt", "encrypted", "absurd-page"],
)
def test_pdfs_that_cannot_be_previewed_record_why(run_graph, name, data, reason):
    from reportlab.lib.pdfencrypt import StandardEncryption

    if name == "encrypted.pdf":
        data = pdf(encrypt=StandardEncryption(userPassword="secret"))
    elif name == "absurd.pdf":
        data = pdf(pagesize=(100_000, 100_000))
    _, (message,) = run_graph(("pdf", [Attachment(name, data, "application/pdf")]))
    (row,) = rows(message)
    assert row.status == Row.Status.STORED and row.preview_status == Row.PreviewStatus.ON_REQUEST
    row = make_thumbnail(row)
    assert row.preview_status == Row.PreviewStatus.FAILED and reason in row.preview_error


def test_a_png_named_pdf_is_stored_as_png_with_a_readable_note(run_graph):
    _, (message,) = run_graph(("png", [Attachment("factura.pdf", png(), "application/pdf")]))
    (row,) = rows(message)
    assert row.status == Row.Status.STORED and row.content_type == "image/png"
    assert row.preview_status == Row.PreviewStatus.NONE
    assert "the name says PDF but the content is PNG" in row.error


def _graph_mailbox(graph) -> Mailbox:
    return Mailbox.objects.create(
        name="ids", kind="graph", settings={"user": graph.user, "processed_folder": "Processed"}
    )


def test_the_same_mail_twice_from_graph_is_stored_once_and_both_are_moved(graph):
    content = pdf(pagesize=(300, 300))
    first, second = (graph.add_message(s, [Attachment("f.pdf", content, "application/pdf")]) for s in ("a", "a again"))
    second.internet_message_id = first.internet_message_id  # one mail, delivered twice
    processed = process_mailbox(_graph_mailbox(graph))
    assert processed.raised == []
    messages = MailMessage.objects.filter(internet_message_id=first.internet_message_id)
    assert messages.count() == 2 and messages.filter(copy_of__isnull=False).count() == 1
    assert Row.objects.count() == 1, "the copy's file is the original's, stored once"
    folders = {graph.messages[m.id].folder for m in (first, second)}
    assert len(folders) == 1 and "inbox-id" not in folders, "both moved to the processed folder by the run"


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_two_different_graph_mails_under_one_message_id_are_both_stored(graph, order):
    contents = [pdf(pagesize=(300, 300)), pdf(pagesize=(400, 400))]
    added = [graph.add_message(f"mail {n}", [Attachment("factura.pdf", contents[n], "application/pdf")]) for n in order]
    added[1].internet_message_id = added[0].internet_message_id  # a mailer that reuses its Message-IDs
    processed = process_mailbox(_graph_mailbox(graph))
    assert processed.raised == []
    messages = MailMessage.objects.filter(internet_message_id=added[0].internet_message_id)
    assert messages.count() == 2 and not messages.filter(copy_of__isnull=False).exists()
    assert Row.objects.values("blob").distinct().count() == 2


def test_a_message_without_attachments_is_recorded_and_not_read_again(run_graph, graph):
    _, (message,) = run_graph(("nothing", []))
    row = MailMessage.objects.get(source_id=message.id)
    assert row.status == MailMessage.Status.PROCESSED and row.attachment_count == 0
    rerun = fetch_run_create(mailbox=row.mailbox, trigger=FetchRun.Trigger.MANUAL)
    new: list[int] = []
    fetch_run_execute(run=rerun, on_new_message=new.append)
    assert new == []


def test_an_attachment_graph_keeps_refusing_is_left_to_retry_and_not_held_against_the_message(graph):
    good = graph.add_message("good", [Attachment("good.pdf", GOOD_PDF, "application/pdf")])
    refused = graph.add_message("refused", [Attachment("refused.pdf", GOOD_PDF, "application/pdf")])
    graph.fail(f"{refused.attachments[0].id}/$value", *[(500,)] * 10)
    mailbox = Mailbox.objects.create(name="refusing", kind="graph", settings={"user": graph.user})
    processed = process_mailbox(mailbox)
    row = MailMessage.objects.get(source_id=refused.id)
    assert [(name, type(exc).__name__) for name, _, exc in processed.raised] == [("save_message", "SourceError")]
    assert processed.raised[0][1] == (row.pk,)
    assert row.status == MailMessage.Status.PENDING and row.error.startswith("will retry after SourceError")
    assert row.delivery_attempts == 0, "an outage at the source does not count toward quarantine"
    assert MailMessage.objects.get(source_id=good.id).status == MailMessage.Status.PROCESSED
