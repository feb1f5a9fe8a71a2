"""Streaming save: chunks -> sha256 + size cap -> temp file -> storage, never whole in memory.

Objects are named by their content hash, so the same content is stored once and a
stored object's name says nothing about the sender's filename.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File
from django.core.files.storage import Storage

#: How many leading bytes we keep to recognise the content type.
HEAD_SIZE = 512


class ContentTooLarge(Exception):
    """The content went past the size cap; nothing was stored."""


@dataclass(frozen=True)
class SpooledContent:
    path: Path
    sha256: str
    size: int
    head: bytes


@contextmanager
def spool(chunks: Iterable[bytes], *, max_bytes: int, directory: Path | None = None) -> Iterator[SpooledContent]:
    """Write `chunks` to a temporary file while hashing; the file is removed on exit, whatever happens."""
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="spool-", dir=directory)
    path = Path(name)
    try:
        digest = hashlib.sha256()
        size = 0
        head = b""
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ContentTooLarge(f"larger than the {max_bytes // (1024 * 1024)} MB limit")
                if len(head) < HEAD_SIZE:
                    head += chunk[: HEAD_SIZE - len(head)]
                digest.update(chunk)
                out.write(chunk)
        yield SpooledContent(path=path, sha256=digest.hexdigest(), size=size, head=head)
    finally:
        path.unlink(missing_ok=True)


def blob_name(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def preview_name(sha256: str) -> str:
    return f"previews/{sha256[:2]}/{sha256}.png"


def save_spooled(storage: Storage, spooled: SpooledContent) -> str:
    """Store the spooled content under its hash name and return that name."""
    name = blob_name(spooled.sha256)
    with spooled.path.open("rb") as handle:
        saved = storage.save(name, File(handle, name=name))
    if saved != name:
        # A storage that renames instead of overwriting would break content addressing.
        storage.delete(saved)
        raise RuntimeError(f"storage renamed {name} to {saved}; configure it to overwrite")
    return name


@contextmanager
def local_copy(storage: Storage, name: str, *, directory: Path | None = None) -> Iterator[Path]:
    """A path on local disk for a stored object: the file itself when the storage has one."""
    try:
        yield Path(storage.path(name))
        return
    except NotImplementedError:
        pass
    with (
        storage.open(name, "rb") as source,
        spool(iter(lambda: source.read(64 * 1024), b""), max_bytes=2**62, directory=directory) as spooled,
    ):
        yield spooled.path
