"""A stored PDF's thumbnail is drawn on its first request, not by the pipeline.

Mail goes through the real pipeline into two mailboxes; a clerk of one logs in with a password and
asks for the thumbnail through the real views. The drawing itself (the sandbox's child) is counted
by wrapping the call that asks the child for it.
"""

from __future__ import annotations

import itertools

import pytest
from django.core.files.storage import storages
from django.urls import reverse

from pipeline import samples
from pipeline.render import calls
from tests.support.inline import process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.inbox.models import Attachment, Mailbox
from webapp.inbox.services.preview_requests import attachment_preview_made

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}


#: A total of its own for each mail: a PDF no earlier test of the process drew (their storage is shared).
_TOTALS = itertools.count(1_000_001)


def _pdf_of(tmp_path, name: str, folio: int, *, pdf: bytes | None = None) -> Attachment:
    folder = tmp_path / name
    folder.mkdir()
    attachments = None if pdf is None else [("factura.pdf", "application/pdf", pdf)]
    mail = samples.supplier_email(folio=folio, total=next(_TOTALS), attachments=attachments)
    (folder / "01.eml").write_bytes(mail)
    mailbox = Mailbox.objects.create(name=name, settings={"path": str(folder)})
    assert process_mailbox(mailbox).raised == []
    return Attachment.objects.get(message__mailbox=mailbox, content_type="application/pdf")


@pytest.fixture
def pdfs(tmp_path, redis_client):
    return _pdf_of(tmp_path, "norte", 501), _pdf_of(tmp_path, "sur", 900)


@pytest.fixture
def clerk(client, pdfs):
    clerk_of(pdfs[0].message.mailbox)
    logged_in = client.post(reverse("admin:login"), {"username": "clerk", "password": "x", "next": "/admin/"})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/admin/", "the admin's own login form"
    return client


@pytest.fixture
def drawings(monkeypatch):
    """The stored files the sandbox was asked to draw a first page of."""
    drawn: list[str] = []
    draw = calls.pdf_thumbnail

    def counted(path, **kwargs):
        drawn.append(str(path))
        return draw(path, **kwargs)

    monkeypatch.setattr(calls, "pdf_thumbnail", counted)
    return drawn


def _preview(pk: int) -> str:
    return reverse("inbox:attachment_preview", args=[pk])


def test_the_pipeline_draws_no_thumbnail(pdfs):
    norte, _sur = pdfs
    assert (norte.preview_status, norte.preview_name, norte.preview_error) == (
        Attachment.PreviewStatus.ON_REQUEST,
        "",
        "",
    )


def test_the_first_request_draws_and_stores_it_once_and_the_next_is_served_from_storage(clerk, pdfs, drawings):
    norte, _sur = pdfs
    first = clerk.get(_preview(norte.pk))
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    body = b"".join(first.streaming_content)
    assert body.startswith(b"\x89PNG") and len(drawings) == 1
    norte.refresh_from_db()
    assert norte.preview_status == Attachment.PreviewStatus.READY and norte.preview_error == ""
    with storages["default"].open(norte.preview_name) as handle:
        assert handle.read() == body
    again = clerk.get(_preview(norte.pk))
    assert again.status_code == 200 and b"".join(again.streaming_content) == body
    assert len(drawings) == 1, "served from storage: no second drawing"


def test_a_clerk_of_another_mailbox_gets_404_and_draws_nothing(clerk, pdfs, drawings):
    _norte, sur = pdfs
    assert clerk.get(_preview(sur.pk)).status_code == 404
    assert drawings == []
    sur.refresh_from_db()
    assert sur.preview_status == Attachment.PreviewStatus.ON_REQUEST


def test_a_damaged_pdf_is_failed_with_its_reason_and_never_drawn_again(tmp_path, client, redis_client, drawings):
    damaged = _pdf_of(tmp_path, "roto", 77, pdf=b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n")
    assert damaged.preview_status == Attachment.PreviewStatus.ON_REQUEST, "the pipeline did not look at it"
    clerk_of(damaged.message.mailbox)
    logged_in = client.post(reverse("admin:login"), {"username": "clerk", "password": "x", "next": "/admin/"})
    assert logged_in.status_code == 302
    assert client.get(_preview(damaged.pk)).status_code == 404
    damaged.refresh_from_db()
    assert damaged.preview_status == Attachment.PreviewStatus.FAILED
    assert "%%EOF" in damaged.preview_error, damaged.preview_error
    assert client.get(_preview(damaged.pk)).status_code == 404
    assert len(drawings) == 1, "a failure is recorded: never drawn again on every request"
    listing = client.get(reverse("admin:inbox_attachment_changelist"), **SPANISH).content.decode()
    assert "%%EOF" in listing, "the reason is in the attachment list"
    assert _preview(damaged.pk) not in listing, "no thumbnail for a file that cannot be drawn"


def test_storage_trouble_while_drawing_is_a_503_and_records_nothing(clerk, pdfs, monkeypatch):
    norte, _sur = pdfs
    storage = storages["default"]

    def unavailable(*args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(type(storage), "exists", lambda self, name: False)  # not drawn by an earlier test either
    monkeypatch.setattr(type(storage), "save", unavailable)
    answer = clerk.get(_preview(norte.pk), **SPANISH)
    assert answer.status_code == 503 and answer["Retry-After"]
    assert "no se puede generar en este momento" in answer.content.decode()
    norte.refresh_from_db()
    assert norte.preview_status == Attachment.PreviewStatus.ON_REQUEST, "a later request tries again"
    monkeypatch.undo()
    assert clerk.get(_preview(norte.pk)).status_code == 200


def test_a_failure_after_another_process_made_it_leaves_it_ready(pdfs, monkeypatch):
    """Two web processes draw one first request; one records READY, the other's sandbox then hits a limit:
    FAILED (never drawn again) must not take the READY row's place."""
    norte, _sur = pdfs
    late = Attachment.objects.get(pk=norte.pk)  # read ON_REQUEST, as both processes did
    made = attachment_preview_made(attachment=Attachment.objects.get(pk=norte.pk))
    assert made.preview_status == Attachment.PreviewStatus.READY

    def overloaded(path, **kwargs):
        raise calls.RenderError("drawing the PDF's first page took longer than 30 s; not rendered")

    monkeypatch.setattr(calls, "pdf_thumbnail", overloaded)
    attachment_preview_made(attachment=late)
    assert (late.preview_status, late.preview_name) == (Attachment.PreviewStatus.READY, made.preview_name)
    norte.refresh_from_db()
    assert (norte.preview_status, norte.preview_name, norte.preview_error) == (
        Attachment.PreviewStatus.READY,
        made.preview_name,
        "",
    )


def test_the_lists_offer_the_thumbnail_before_it_is_made(clerk, pdfs, drawings):
    norte, _sur = pdfs
    listing = clerk.get(reverse("admin:inbox_attachment_changelist"), **SPANISH)
    assert listing.status_code == 200 and _preview(norte.pk) in listing.content.decode()
    message = clerk.get(reverse("admin:inbox_mailmessage_change", args=[norte.message_id]), **SPANISH)
    assert _preview(norte.pk) in message.content.decode(), "the inline under the message"
    assert drawings == [], "pages link it; only the image draws it"


def test_a_render_bomb_asked_for_fails_in_the_sandbox_with_its_reason(tmp_path, client, redis_client):
    """The worker only stores it now; the web's request sets it off, and the sandbox's child pays for it."""
    from tests.support import hostile_files

    bomb = _pdf_of(tmp_path, "bomba", 666, pdf=hostile_files.pdf_render_bomb())
    clerk_of(bomb.message.mailbox)
    logged_in = client.post(reverse("admin:login"), {"username": "clerk", "password": "x", "next": "/admin/"})
    assert logged_in.status_code == 302
    assert client.get(_preview(bomb.pk)).status_code == 404
    bomb.refresh_from_db()
    assert (bomb.preview_status, bomb.preview_error) == (
        Attachment.PreviewStatus.FAILED,
        "drawing the PDF's first page needs more than 512 MB of memory; not rendered",
    )


def test_the_same_pdf_in_two_mails_is_drawn_once(tmp_path, redis_client, drawings):
    same = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=321, total=1000)
    first, second = (_pdf_of(tmp_path, name, 321, pdf=same) for name in ("uno", "dos"))
    assert first.blob_id == second.blob_id, "one stored object"
    first = attachment_preview_made(attachment=first)
    second = attachment_preview_made(attachment=second)
    assert len(drawings) == 1, "the second finds the first's thumbnail stored under the same name"
    assert first.preview_status == second.preview_status == Attachment.PreviewStatus.READY
    assert first.preview_name == second.preview_name


def test_while_every_drawing_slot_is_busy_a_first_request_waits_then_says_later_and_pages_still_answer(
    clerk, pdfs, monkeypatch, drawings
):
    """A page of PDFs that each take the sandbox's whole limit to draw must not hold every web thread."""
    from webapp import turns

    norte, _sur = pdfs
    monkeypatch.setattr(turns, "DRAWING_SLOT_WAIT_SECONDS", 0.2)
    storage = type(storages["default"])
    monkeypatch.setattr(storage, "exists", lambda self, name: False)  # not drawn by an earlier test either
    slots = turns._slots()
    held = 0
    while slots.acquire(blocking=False):  # what the other threads' long drawings hold
        held += 1
    try:
        assert held == 3, "WEB_THREADS (4) less the one kept for pages"
        answer = clerk.get(_preview(norte.pk), **SPANISH)
        assert answer.status_code == 503 and answer["Retry-After"]
        assert drawings == []
        norte.refresh_from_db()
        assert norte.preview_status == Attachment.PreviewStatus.ON_REQUEST, "nothing recorded: a later request draws"
        assert clerk.get(reverse("admin:inbox_attachment_changelist"), **SPANISH).status_code == 200
    finally:
        for _ in range(held):
            slots.release()
    assert clerk.get(_preview(norte.pk)).status_code == 200 and len(drawings) == 1
