import datetime as dt
import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from pipeline.sources import SOURCE_KINDS, open_source
from pipeline.sources.base import MessageGone, SourceError
from pipeline.sources.folder import FolderSource

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 10


def write_eml(
    folder: Path, name: str, *, subject: str = "Factura", mtime: int = 1_750_000_000, attachment: bytes = PDF
) -> Path:
    msg = EmailMessage()
    msg["From"] = "Proveedor <facturas@proveedor.cl>"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{name}@proveedor.cl>"
    msg["Date"] = "Tue, 01 Jul 2025 10:00:00 -0400"
    msg.set_content("Adjunto factura.")
    msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="factura.pdf")
    path = folder / name
    path.write_bytes(msg.as_bytes())
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_lists_eml_files_directly_in_the_folder_oldest_first(inbox):
    write_eml(inbox, "b.eml", subject="newest", mtime=1_750_000_300)
    write_eml(inbox, "a.eml", subject="oldest", mtime=1_750_000_100)
    write_eml(inbox, "c.EML", subject="middle", mtime=1_750_000_200)
    (inbox / ".partial.eml.tmp").write_bytes(b"Subject: half written\r\n")
    (inbox / ".hidden.eml").write_bytes(b"Subject: hidden\r\n")
    (inbox / "notes.txt").write_text("not a message")
    (inbox / "sub").mkdir()
    write_eml(inbox / "sub", "nested.eml")
    (inbox / "folder.eml").mkdir()

    listed = list(FolderSource(inbox).list_messages())

    assert [(m.source_id, m.subject) for m in listed] == [("a.eml", "oldest"), ("c.EML", "middle"), ("b.eml", "newest")]
    first = listed[0]
    assert first.internet_message_id == "<a.eml@proveedor.cl>"
    assert first.sender == "Proveedor <facturas@proveedor.cl>"
    assert first.received_at == dt.datetime(2025, 7, 1, 14, 0, tzinfo=dt.UTC)


def test_a_missing_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        FolderSource(tmp_path / "nowhere").list_messages()


def test_open_message_streams_the_attachments(inbox):
    write_eml(inbox, "a.eml")
    with FolderSource(inbox).open_message("a.eml") as reader:
        got = [(a.filename, b"".join(a.open_chunks())) for a in reader.attachments()]
    assert got == [("factura.pdf", PDF)]


def test_a_message_that_is_gone_raises_message_gone(inbox):
    source = FolderSource(inbox)
    write_eml(inbox, "a.eml")
    source.mark_processed("a.eml")
    with pytest.raises(MessageGone), source.open_message("a.eml"):
        pass


@pytest.mark.parametrize(
    "bad", ["../a.eml", "sub/a.eml", "..", "a\\b.eml", "", ".hidden.eml", "processed", "/etc/passwd"]
)
def test_bad_ids_are_rejected(inbox, bad):
    source = FolderSource(inbox)
    for call in (source.open_message, source.mark_processed, lambda name: source.mark_failed(name, "x")):
        with pytest.raises(ValueError):
            call(bad)


def test_mark_processed_moves_without_overwriting_and_is_idempotent(inbox):
    source = FolderSource(inbox)
    (inbox / "processed").mkdir()
    (inbox / "processed" / "a.eml").write_bytes(b"an older message")
    (inbox / "processed" / "a-1.eml").write_bytes(b"another older one")
    original = write_eml(inbox, "a.eml").read_bytes()

    source.mark_processed("a.eml")
    source.mark_processed("a.eml")

    assert not (inbox / "a.eml").exists()
    assert (inbox / "processed" / "a.eml").read_bytes() == b"an older message"
    assert (inbox / "processed" / "a-1.eml").read_bytes() == b"another older one"
    assert (inbox / "processed" / "a-2.eml").read_bytes() == original
    assert list(source.list_messages()) == []


def test_mark_processed_creates_its_folder(inbox):
    write_eml(inbox, "a.eml")
    FolderSource(inbox).mark_processed("a.eml")
    assert (inbox / "processed" / "a.eml").is_file()


def test_mark_failed_moves_and_writes_the_reason_once(inbox):
    source = FolderSource(inbox)
    write_eml(inbox, "a.eml")

    source.mark_failed("a.eml", "Gave up: año inválido")
    source.mark_failed("a.eml", "a second reason is not written over the first")

    assert (inbox / "failed" / "a.eml").is_file()
    assert (inbox / "failed" / "a.eml.reason").read_text(encoding="utf-8") == "Gave up: año inválido"
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["a.eml", "a.eml.reason"]


def test_mark_failed_with_a_name_taken_writes_the_reason_beside_the_new_file(inbox):
    source = FolderSource(inbox)
    write_eml(inbox, "a.eml")
    source.mark_failed("a.eml", "first")
    write_eml(inbox, "a.eml")
    source.mark_failed("a.eml", "second")
    assert (inbox / "failed" / "a.eml.reason").read_text(encoding="utf-8") == "first"
    assert (inbox / "failed" / "a-1.eml.reason").read_text(encoding="utf-8") == "second"


def test_settling_a_message_gone_everywhere_does_nothing(inbox):
    source = FolderSource(inbox)
    source.mark_processed("never-was.eml")
    source.mark_failed("never-was.eml", "reason")
    assert not (inbox / "failed" / "never-was.eml.reason").exists()


def test_the_registry_opens_a_folder_source(inbox):
    source = open_source("folder", {"path": str(inbox)})
    assert isinstance(source, FolderSource) and source.path == inbox
    assert "folder" in SOURCE_KINDS
    with pytest.raises(ValueError, match="unknown"):
        open_source("pigeon", {})
    with pytest.raises(ValueError, match="path"):
        open_source("folder", {})
