"""Every spool goes to config.spool_dir(), and none holds more than the attachment cap: a pod sizes one folder by it.

A thread holds at most config.SPOOL_FILES_PER_THREAD spools of MAX_ATTACHMENT_BYTES at once
(tests/deploy/test_spool.py checks the manifests by it); these tests hold the code to its parts.
"""

from __future__ import annotations

import binascii
import os
from pathlib import Path

import pytest

from pipeline import config
from pipeline.sources import open_source, transfer_encodings
from pipeline.storage import ContentTooLarge, spool
from tests.support.fake_graph import Attachment, FakeGraph

CAP = 1024 * 1024


@pytest.fixture
def small_cap(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(config, "MAX_ATTACHMENT_BYTES", CAP)
    return config.spool_dir()


def _uuencoded(data: bytes) -> list[bytes]:
    lines = [b"begin 644 big.pdf\n"]
    lines += [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
    return [*lines, b"`\n", b"end"]


def _open_spools(directory: Path) -> list[int]:
    """Sizes of the files this process holds open in `directory`, named or not (a rolled-over
    SpooledTemporaryFile has no name)."""
    sizes = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(f"{directory}/"):
                sizes.append(os.stat(f"/proc/self/fd/{fd}").st_size)
        except OSError:  # the listing's own descriptor, closed by now
            continue
    return sorted(sizes)


def test_a_uuencoded_part_spools_in_the_spool_folder_and_no_more_than_the_cap(small_cap):
    problems: list[str] = []
    decoded = transfer_encodings.decode(iter(_uuencoded(os.urandom(3 * CAP))), "x-uuencode", problems)
    first = next(iter(decoded))  # the part is read whole: its raw and decoded spools are full now
    assert _open_spools(small_cap) == [CAP + 1, CAP + 1], "raw and decoded, each one byte past the cap"
    rest = b"".join(decoded)
    assert len(first) + len(rest) == CAP + 1 and problems == []
    with pytest.raises(ContentTooLarge), spool(iter([first, rest]), max_bytes=CAP, directory=small_cap):
        pass  # refused as before: one byte past the cap is enough to tell


def test_a_uuencoded_part_within_the_cap_decodes_whole(small_cap):
    data = os.urandom(CAP)
    problems: list[str] = []
    assert b"".join(transfer_encodings.decode(iter(_uuencoded(data)), "x-uuencode", problems)) == data
    assert problems == []


def test_a_forwarded_messages_spool_goes_once_its_attachments_are_read(small_cap, tmp_path, monkeypatch, redis_client):
    forwarded = (
        b"From: a@b.cl\r\nSubject: fw\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=inner.pdf\r\n\r\n"
        b"%PDF-1.4 inner\r\n--b--\r\n"
    )
    with FakeGraph(tmp_path) as graph:
        for name, value in graph.env().items():
            monkeypatch.setenv(name, value)
        message = graph.add_message(
            "fw", [Attachment("FW 1", forwarded, kind="itemAttachment"), Attachment("after.pdf", b"%PDF-1.4 after")]
        )
        spools_at = {}
        with open_source("graph", {"user": graph.user}).open_message(message.id) as reader:
            for incoming in reader.attachments():
                spools_at[incoming.filename] = sorted(p.name.split("-")[0] for p in small_cap.iterdir())
                assert incoming.open_chunks is not None
                b"".join(incoming.open_chunks())
    assert list(spools_at) == ["FW 1.eml", "inner.pdf", "after.pdf"]
    assert spools_at["inner.pdf"] == ["graph"], "the forwarded message's .eml, in the spool folder"
    assert spools_at["after.pdf"] == [], "gone before the next attachment, not at the end of the mail"
