"""The `folder` source: a directory of .eml files, settled into processed/ and failed/ beside them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .base import MessageGone, MessageSummary, SourceError
from .mime import MimeReader, read_headers

logger = logging.getLogger(__name__)

#: Sub-folders a settled message is moved into.
PROCESSED_DIR = "processed"
FAILED_DIR = "failed"
#: How many `name-N.eml` variants we try before giving up on a free name.
MAX_SUFFIX = 10_000


def check_source_id(source_id: str) -> str:
    """A source id is the plain name of a visible .eml file directly in the folder."""
    if (
        not isinstance(source_id, str)
        or "/" in source_id
        or "\\" in source_id
        or (os.altsep and os.altsep in source_id)
        or ".." in source_id
        or "\x00" in source_id
        or source_id.startswith(".")
        or not source_id.lower().endswith(".eml")
    ):
        raise ValueError(f"not a message file name: {source_id!r}")
    return source_id


class FolderSource:
    """Messages are the `*.eml` files directly in `path`, oldest first."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.processed_dir = self.path / PROCESSED_DIR
        self.failed_dir = self.path / FAILED_DIR

    def __repr__(self) -> str:
        return f"FolderSource({str(self.path)!r})"

    def list_messages(
        self, *, since: dt.date | None = None, folders: Sequence[str] | None = None, include_processed: bool = False
    ) -> Iterator[MessageSummary]:
        """The folder is scanned now (a missing folder raises SourceError here); headers are read lazily.

        `since` keeps messages dated on or after that day (undated ones too); a folder source
        has one folder, so `folders` and `include_processed` are refused.
        """
        if folders or include_processed:
            raise ValueError("a folder mailbox has a single folder: backfill with --since only")
        if not self.path.is_dir():
            raise SourceError(f"mail folder {self.path} does not exist or is not a directory")
        found: list[tuple[int, str]] = []
        try:
            with os.scandir(self.path) as entries:
                for entry in entries:
                    if _is_message_name(entry.name) and entry.is_file(follow_symlinks=False):
                        try:
                            found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
                        except FileNotFoundError:
                            continue
        except OSError as exc:
            raise SourceError(f"cannot list mail folder {self.path}: {exc}") from exc
        summaries = self._summaries(sorted(found))
        if since is None:
            return summaries
        return (s for s in summaries if s.received_at is None or s.received_at.date() >= since)

    def _summaries(self, found: list[tuple[int, str]]) -> Iterator[MessageSummary]:
        for _, name in found:
            try:
                with open(self.path / name, "rb") as fp:
                    headers = read_headers(fp)
            except FileNotFoundError:  # settled by someone else since the scan
                continue
            except OSError as exc:
                raise SourceError(f"cannot read {self.path / name}: {exc}") from exc
            yield MessageSummary(source_id=name, **dataclasses.asdict(headers))

    def open_message(self, source_id: str) -> AbstractContextManager[MimeReader]:
        return self._open(self.path / check_source_id(source_id))

    def open_processed(self, source_id: str) -> AbstractContextManager[MimeReader]:
        """A message already settled into processed/ (verify_storage --repair reads it again)."""
        return self._open(self.processed_dir / check_source_id(source_id))

    @contextmanager
    def _open(self, path: Path) -> Iterator[MimeReader]:
        try:
            fp = open(path, "rb")  # noqa: SIM115 - opened here to tell a vanished file from other errors
        except FileNotFoundError:
            raise MessageGone(f"{path.name} is no longer in {self.path}") from None
        except OSError as exc:
            raise SourceError(f"cannot open {path}: {exc}") from exc
        with fp:
            yield MimeReader(fp)

    def mark_processed(self, source_id: str) -> None:
        self._settle(check_source_id(source_id), self.processed_dir)

    def content_digest(self, source_id: str) -> str | None:
        """The .eml file's own bytes: two files with the same bytes are one mail, whatever their names."""
        try:
            with open(self.path / check_source_id(source_id), "rb") as fp:
                digest = hashlib.file_digest(fp, "sha256")  # read into one reused buffer, no bytes per chunk
        except FileNotFoundError:
            raise MessageGone(f"{source_id} is no longer in {self.path}") from None
        except OSError as exc:
            raise SourceError(f"cannot read {self.path / source_id}: {exc}") from exc
        return digest.hexdigest()

    def mark_failed(self, source_id: str, reason: str) -> None:
        moved = self._settle(check_source_id(source_id), self.failed_dir)
        if moved is None:
            return
        reason_file = moved.with_name(moved.name + ".reason")
        if not reason_file.exists():
            temp = reason_file.with_name(f".{reason_file.name}.tmp")
            temp.write_text(reason, encoding="utf-8")
            os.replace(temp, reason_file)

    def _settle(self, name: str, target_dir: Path) -> Path | None:
        """Move the message into target_dir under a free name; where it is, or None if gone."""
        source = self.path / name
        try:
            target_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise SourceError(f"cannot create {target_dir}: {exc}") from exc
        if not source.is_file():
            if (target_dir / name).exists():
                return target_dir / name  # settled already
            logger.warning("%s is neither in %s nor in %s; nothing to move", name, self.path, target_dir)
            return None
        target = _free_path(target_dir, name)
        try:
            os.replace(source, target)
        except FileNotFoundError:  # moved away by a concurrent call
            return None
        except OSError as exc:
            raise SourceError(f"cannot move {source} to {target}: {exc}") from exc
        return target


def _is_message_name(name: str) -> bool:
    try:
        check_source_id(name)
    except ValueError:
        return False
    return True


def _free_path(directory: Path, name: str) -> Path:
    """`name`, or `stem-1.eml`, `stem-2.eml`... : the first that does not exist yet."""
    candidate = directory / name
    stem, suffix = os.path.splitext(name)
    for number in range(1, MAX_SUFFIX + 1):
        if not os.path.lexists(candidate):
            return candidate
        candidate = directory / f"{stem}-{number}{suffix}"
    raise SourceError(f"no free name for {name} in {directory}")
