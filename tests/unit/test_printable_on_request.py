"""A Document's printable PDF and thumbnail are drawn on their first request, not by the pipeline.

Mail goes through the real pipeline into two mailboxes; a clerk of one logs in with a password and
asks for the printable through the real views. The drawing itself (the sandbox's child) is counted
by wrapping the call that asks the child for it.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import storages
from django.urls import reverse

from pipeline import samples
from pipeline.render import calls
from tests.support.inline import process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document
from webapp.documents.services.printable_requests import document_printable
from webapp.documents.services.printables import document_render
from webapp.inbox.models import Attachment, Mailbox, MailboxAccess

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}


def _mailbox(tmp_path, name: str, folio: int) -> Document:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "01.eml").write_bytes(samples.supplier_email(folio=folio))
    mailbox = Mailbox.objects.create(name=name, settings={"path": str(folder)})
    assert process_mailbox(mailbox).raised == []
    return Document.objects.get(mailbox=mailbox)


@pytest.fixture
def documents(tmp_path, redis_client):
    return _mailbox(tmp_path, "norte", 501), _mailbox(tmp_path, "sur", 900)


@pytest.fixture
def clerk(client, documents):
    clerk_of(documents[0].mailbox)
    logged_in = client.post(reverse("admin:login"), {"username": "clerk", "password": "x", "next": "/admin/"})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/admin/", "the admin's own login form"
    return client


@pytest.fixture
def drawings(monkeypatch):
    """Every drawing the sandbox is asked for, by the folio it printed."""
    drawn: list[int] = []
    draw = calls.printable_pdf_and_thumbnail

    def counted(doc):
        drawn.append(doc.folio)
        return draw(doc)

    monkeypatch.setattr(calls, "printable_pdf_and_thumbnail", counted)
    return drawn


def _stored_as(name: str) -> list[str]:
    """Every stored object named after the same hash as `name`: one, unless a save made another name."""
    folder, file = name.rsplit("/", 1)
    stem = file.rsplit(".", 1)[0]
    return [f"{folder}/{other}" for other in storages["default"].listdir(folder)[1] if other.startswith(stem)]


def _printable(pk: int) -> str:
    return reverse("documents:printable_download", args=[pk])


def _thumbnail(pk: int) -> str:
    return reverse("documents:preview", args=[pk])


def test_the_pipeline_draws_no_printable(documents):
    norte, _sur = documents
    assert norte.printable_status == Document.PrintableStatus.ON_REQUEST
    assert (norte.printable_name, norte.preview_name, norte.printable_error) == ("", "", "")
    xml = norte.xml_attachment
    assert (xml.preview_status, xml.preview_name) == (Attachment.PreviewStatus.NONE, ""), "its preview comes later"


def test_the_first_download_draws_and_stores_it_once_and_the_next_is_served_from_storage(clerk, documents, drawings):
    norte, _sur = documents
    first = clerk.get(_printable(norte.pk))
    assert first.status_code == 200 and first["Content-Type"] == "application/pdf"
    body = b"".join(first.streaming_content)
    assert body.startswith(b"%PDF") and drawings == [501]
    norte.refresh_from_db()
    assert norte.printable_status == Document.PrintableStatus.READY
    storage = storages["default"]
    with storage.open(norte.printable_name) as handle:
        assert handle.read() == body
    assert storage.exists(norte.preview_name)
    assert _stored_as(norte.printable_name) == [norte.printable_name]
    xml = Attachment.objects.get(pk=norte.xml_attachment_id)
    assert (xml.preview_status, xml.preview_name) == (Attachment.PreviewStatus.READY, norte.preview_name)

    again = clerk.get(_printable(norte.pk))
    assert again.status_code == 200 and b"".join(again.streaming_content) == body
    thumbnail = clerk.get(_thumbnail(norte.pk))
    assert thumbnail.status_code == 200 and b"".join(thumbnail.streaming_content).startswith(b"\x89PNG")
    assert drawings == [501], "served from storage: no second drawing"


def test_the_thumbnail_asked_first_draws_the_printable_with_it(clerk, documents, drawings):
    norte, _sur = documents
    thumbnail = clerk.get(_thumbnail(norte.pk))
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
    assert b"".join(thumbnail.streaming_content).startswith(b"\x89PNG")
    assert clerk.get(_printable(norte.pk)).status_code == 200
    assert drawings == [501]


def test_a_clerk_of_another_mailbox_gets_404_and_draws_nothing(clerk, documents, drawings):
    _norte, sur = documents
    for url in (_printable(sur.pk), _thumbnail(sur.pk)):
        assert clerk.get(url).status_code == 404
    assert drawings == []
    sur.refresh_from_db()
    assert (sur.printable_status, sur.printable_name) == (Document.PrintableStatus.ON_REQUEST, "")


def test_a_printable_that_cannot_be_made_is_failed_with_its_reason_shown_in_spanish(clerk, documents, monkeypatch):
    norte, _sur = documents
    drawn = []

    def too_large(doc):
        drawn.append(doc.folio)
        raise calls.PrintableError("the TED is too large for a PDF417; not printed")

    monkeypatch.setattr(calls, "printable_pdf_and_thumbnail", too_large)
    page = clerk.get(_printable(norte.pk), **SPANISH)
    assert page.status_code == 404
    text = page.content.decode()
    assert "El PDF imprimible de este documento no se puede generar." in text
    assert "the TED is too large for a PDF417; not printed" in text
    back = reverse("admin:documents_document_change", args=[norte.pk])
    assert f'<a href="{back}">Volver al documento</a>' in text, "the way back to the document's page"
    assert f"Factura electrónica N° {norte.folio}" in text and "Cerrar sesión" in text, "inside the admin's frame"
    norte.refresh_from_db()
    assert norte.printable_status == Document.PrintableStatus.FAILED
    assert norte.printable_error == "the TED is too large for a PDF417; not printed"
    xml = Attachment.objects.get(pk=norte.xml_attachment_id)
    assert (xml.preview_status, xml.preview_error) == (Attachment.PreviewStatus.FAILED, norte.printable_error)

    assert clerk.get(_thumbnail(norte.pk), **SPANISH).status_code == 404
    assert drawn == [501], "a failure is recorded: never drawn again on every request"
    detail = clerk.get(reverse("admin:documents_document_change", args=[norte.pk]), **SPANISH)
    assert detail.status_code == 200 and "the TED is too large for a PDF417" in detail.content.decode()
    listing = clerk.get(reverse("admin:documents_document_changelist"), **SPANISH).content.decode()
    assert _thumbnail(norte.pk) not in listing, "no thumbnail for a printable that cannot be made"


def test_storage_trouble_while_drawing_is_a_page_that_says_so_and_records_nothing(clerk, documents, monkeypatch):
    norte, _sur = documents
    storage = storages["default"]

    def unavailable(*args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(type(storage), "exists", lambda self, name: False)
    monkeypatch.setattr(type(storage), "save", unavailable)
    page = clerk.get(_printable(norte.pk), **SPANISH)
    assert page.status_code == 503 and page["Retry-After"]
    assert "no se pudo generar en este momento" in page.content.decode()
    norte.refresh_from_db()
    assert norte.printable_status == Document.PrintableStatus.ON_REQUEST, "a later request tries again"
    monkeypatch.undo()
    assert clerk.get(_printable(norte.pk)).status_code == 200


def test_two_first_requests_at_once_store_one_object_and_write_one_row(documents, monkeypatch):
    """Two web processes that both found nothing stored: the drawing is deterministic, the second save of the
    same name is dropped, and both write the same row."""
    norte, _sur = documents
    storage = storages["default"]
    monkeypatch.setattr(type(storage), "exists", lambda self, name: False)  # neither sees the other's file
    from pipeline.dte import parse_file

    with storage.open(norte.xml_attachment.blob.storage_name) as handle:
        (parsed,) = parse_file(handle.read()).documents
    first = document_render(document=Document.objects.get(pk=norte.pk), parsed=parsed)
    second = document_render(document=Document.objects.get(pk=norte.pk), parsed=parsed)
    monkeypatch.undo()
    assert (first.printable_name, first.preview_name) == (second.printable_name, second.preview_name)
    assert _stored_as(first.printable_name) == [first.printable_name], "the second save of one name is dropped"
    assert _stored_as(first.preview_name) == [first.preview_name]
    norte.refresh_from_db()
    assert (norte.printable_status, norte.printable_name) == (Document.PrintableStatus.READY, first.printable_name)


def test_a_drawing_that_fails_after_another_process_made_it_leaves_it_ready(documents, monkeypatch):
    """Two web processes draw one first request; one records READY, the other's sandbox then hits a limit:
    FAILED (never drawn again) must not take the READY row's place."""
    norte, _sur = documents
    from pipeline.dte import parse_file

    with storages["default"].open(norte.xml_attachment.blob.storage_name) as handle:
        (parsed,) = parse_file(handle.read()).documents
    late = Document.objects.get(pk=norte.pk)  # read ON_REQUEST, as both processes did
    made = document_render(document=Document.objects.get(pk=norte.pk), parsed=parsed)

    def overloaded(doc):
        raise calls.PrintableError("drawing the printable PDF took longer than 30 s; not printed")

    monkeypatch.setattr(calls, "printable_pdf_and_thumbnail", overloaded)
    document_render(document=late, parsed=parsed)
    norte.refresh_from_db()
    assert (norte.printable_status, norte.printable_name) == (Document.PrintableStatus.READY, made.printable_name)
    assert norte.printable_error == ""


def test_an_envelopes_printables_are_drawn_from_the_workers_one_parse(tmp_path, clerk, monkeypatch, redis_client):
    """On request, each of an envelope's DTE would parse the whole envelope again in the web: a sender who
    sends 1,500 in one file would cost minutes of web CPU per list page. The worker draws them instead."""
    from webapp.documents.services import documents as documents_service

    folder = tmp_path / "sobre"
    folder.mkdir()
    envelope = samples.envio_dte(documents=[samples.Dte(folio=7000 + n) for n in range(12)])
    (folder / "01.eml").write_bytes(samples.supplier_email(attachments=[("envio.xml", "application/xml", envelope)]))
    mailbox = Mailbox.objects.create(name="sobre", settings={"path": str(folder)})
    assert process_mailbox(mailbox).raised == []
    drawn = Document.objects.filter(mailbox=mailbox)
    assert drawn.count() == 12 and {d.printable_status for d in drawn} == {Document.PrintableStatus.READY}
    parses: list[str] = []
    parse = documents_service.parse_path
    monkeypatch.setattr(documents_service, "parse_path", lambda path, **kw: parses.append(path) or parse(path, **kw))
    MailboxAccess.objects.create(mailbox=mailbox, user=User.objects.get(username="clerk"))
    for document in drawn:
        assert clerk.get(_thumbnail(document.pk)).status_code == 200
    assert parses == [], "served from storage: the web parses nothing"


def test_a_second_request_after_the_first_finds_it_made(documents, drawings):
    norte, _sur = documents
    made = document_printable(document=Document.objects.get(pk=norte.pk))
    stale = Document.objects.get(pk=norte.pk)
    Document.objects.filter(pk=norte.pk).update(printable_status=Document.PrintableStatus.READY)
    assert document_printable(document=stale).printable_name == made.printable_name
    assert drawings == [501]


def test_the_zip_holds_printables_made_on_request(clerk, documents, drawings):
    norte, _sur = documents
    response = clerk.post(
        reverse("admin:documents_document_changelist"), {"action": "download_zip", "_selected_action": [norte.pk]}
    )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    (printable,) = [name for name in archive.namelist() if name.endswith("-impreso.pdf")]
    norte.refresh_from_db()
    with storages["default"].open(norte.printable_name) as handle:
        assert archive.read(printable) == handle.read()
    assert drawings == [501]


def test_the_list_and_the_page_offer_the_printable_before_it_is_made(clerk, documents, drawings):
    norte, _sur = documents
    listing = clerk.get(reverse("admin:documents_document_changelist"), **SPANISH)
    assert listing.status_code == 200 and _thumbnail(norte.pk) in listing.content.decode()
    detail = clerk.get(reverse("admin:documents_document_change", args=[norte.pk]), **SPANISH).content.decode()
    assert _printable(norte.pk) in detail and _thumbnail(norte.pk) in detail
    assert drawings == [], "pages link it; only the image or the download draws it"
