"""Streaming save: chunks -> sha256 + size cap -> temp file -> storage, never whole in memory.

Objects are named by their content hash, so the same content is stored once and a
stored object's name says nothing about the sender's filename.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage

#: How many leading bytes we keep to recognise the content type.
HEAD_SIZE = 512
#: What a copy from one filesystem to another reads at once.
COPY_BUFFER = 1024 * 1024


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


class _SpooledFile(File):  # type: ignore[type-arg]
    """A spooled file that a local storage may move into place (one rename) instead of copying.

    FileSystemStorage moves any file that has a temporary_file_path(), as for a large upload;
    save_spooled first puts it beside its target, so that move is always a rename. Other
    storages (S3) read it as they would any file.
    """

    def __init__(self, handle: IO[bytes], name: str, path: Path) -> None:
        super().__init__(handle, name=name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def save_spooled(storage: Storage, spooled: SpooledContent) -> str:
    """Store the spooled content under its hash name and return that name; the spool may be moved away."""
    name = blob_name(spooled.sha256)
    source = _stage(storage, name, spooled.path)
    try:
        with source.open("rb") as handle:
            saved = storage.save(name, _SpooledFile(handle, name=name, path=source))
    finally:
        if source != spooled.path:
            source.unlink(missing_ok=True)  # gone already once the storage moved it into place
    if saved != name:
        # A storage that renames instead of overwriting would break content addressing.
        storage.delete(saved)
        raise RuntimeError(f"storage renamed {name} to {saved}; configure it to overwrite")
    return name


def _stage(storage: Storage, name: str, path: Path) -> Path:
    """The spool, moved beside its target in a local storage under a temporary name; as it is for other storages.

    From there the storage's own move is a rename in one folder: the object appears whole or not
    at all. Django would instead copy a file from another filesystem (a spool on an emptyDir, media
    on a volume) straight into the target, so a crash could leave part of it under its hash name.
    """
    try:
        target = Path(storage.path(name))
    except NotImplementedError:
        return path
    _make_folder(storage, target.parent)
    staged = target.with_name(f".{target.name}.{secrets.token_hex(8)}.part")
    try:
        os.rename(path, staged)
    except OSError:  # another filesystem (EXDEV), or one that renames nothing (some FUSE, CIFS): as Django would
        _copy_durably(path, staged)
    return staged


def _make_folder(storage: Storage, folder: Path) -> None:
    """The folder, made as FileSystemStorage makes it for a save (with its directory_permissions_mode)."""
    mode = getattr(storage, "directory_permissions_mode", None)
    if mode is None:
        folder.mkdir(parents=True, exist_ok=True)
        return
    old_umask = os.umask(0o777 & ~mode)  # as Django does: mkdir applies no mode to the parents it makes
    try:
        folder.mkdir(mode=mode, parents=True, exist_ok=True)
    finally:
        os.umask(old_umask)


def _copy_durably(source: Path, target: Path) -> None:
    """Copy to a new file, on disk before it returns; a partial copy is removed."""
    with source.open("rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, COPY_BUFFER)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            target.unlink(missing_ok=True)
            raise


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
