"""A small DTE XML is parsed by the save actor itself; a large one, or one whose parse may pass later, by the render queue."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.storage import storages

from pipeline import samples
from tests.support.inline import Processed, process_mailbox
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, Blob, Mailbox
from webapp.inbox.services import messages

pytestmark = pytest.mark.django_db


def _one_mail(folder: Path, *, folio: int) -> Processed:
    folder.mkdir()
    (folder / "01.eml").write_bytes(samples.supplier_email(folio=folio, xml=_dte(folio)))
    processed = process_mailbox(Mailbox.objects.create(name=folder.name, settings={"path": str(folder)}))
    assert processed.raised == []
    return processed


def _dte(folio: int) -> bytes:
    return samples.dte_xml(folio=folio)


def _actors(processed: Processed) -> list[str]:
    return [name for name, _ in processed.ran]


def test_a_small_dte_is_parsed_by_its_save_with_no_render_message(tmp_path, redis_client):
    processed = _one_mail(tmp_path / "small-7101", folio=7101)
    assert _actors(processed) == ["fetch_mailbox", "save_message"]
    document = Document.objects.get(folio=7101)
    xml = Attachment.objects.get(pk=document.xml_attachment_id)
    assert xml.preview_status not in (Attachment.PreviewStatus.PENDING, Attachment.PreviewStatus.FAILED)
    assert not xml.preview_error


def test_an_xml_over_the_limit_goes_through_the_render_queue(tmp_path, redis_client, monkeypatch):
    monkeypatch.setattr(messages, "RENDER_AT_ONCE_MAX_BYTES", 100)  # the sample DTE is a few KB
    processed = _one_mail(tmp_path / "large-7102", folio=7102)
    assert _actors(processed) == ["fetch_mailbox", "save_message", "render_attachment"]
    assert Document.objects.filter(folio=7102).count() == 1


def test_a_parse_that_may_pass_later_is_left_to_the_render_queue(tmp_path, redis_client, monkeypatch):
    """The stored file cannot be read at the first try (storage away): the render queue's try reads it."""
    storage = type(storages["default"])
    real_path = storage.path
    xml_sha256 = hashlib.sha256(_dte(7103)).hexdigest()
    asked: list[str] = []

    def away_once(self, name: str) -> str:
        if name.endswith(xml_sha256) and Blob.objects.filter(sha256=xml_sha256).exists():  # stored: a read
            asked.append(name)
            if len(asked) == 1:
                return str(tmp_path / "not-there.xml")
        return real_path(self, name)

    monkeypatch.setattr(storage, "path", away_once)
    processed = _one_mail(tmp_path / "away-7103", folio=7103)
    assert _actors(processed) == ["fetch_mailbox", "save_message", "render_attachment"]
    document = Document.objects.get(folio=7103)
    xml = Attachment.objects.get(pk=document.xml_attachment_id)
    assert xml.preview_status not in (Attachment.PreviewStatus.PENDING, Attachment.PreviewStatus.FAILED)
    assert len(asked) == 2, "read once by the save, once by the render queue"
    assert not xml.preview_error


def test_a_save_parses_for_a_bounded_time_and_queues_the_rest(tmp_path, redis_client, monkeypatch):
    """Many XML files in one mail: once the save's parsing budget is spent, the rest go to the render queue."""
    from pipeline.actors import render

    monkeypatch.setattr(render, "AT_ONCE_SECONDS", 0.0)  # spent before the first parse
    folder = tmp_path / "many-7110"
    folder.mkdir()
    xmls = [(f"DTE_{folio}.xml", "application/xml", _dte(folio)) for folio in (7110, 7111, 7112)]
    (folder / "01.eml").write_bytes(samples.supplier_email(attachments=xmls))
    processed = process_mailbox(Mailbox.objects.create(name=folder.name, settings={"path": str(folder)}))
    assert processed.raised == []
    assert _actors(processed) == ["fetch_mailbox", "save_message"] + ["render_attachment"] * 3
    assert sorted(Document.objects.values_list("folio", flat=True)) == [7110, 7111, 7112]
