"""The `graph` source: a shared Microsoft 365 mailbox read over Microsoft Graph with app-only credentials.

Settings (Mailbox.settings): {"user": "invoices@contoso.com", "folder": "Inbox",
"processed_folder": "Processed" | null, "mark_read": false, "include_inline": false,
"failed_folder": null}. A message is moved to `processed_folder` (created if missing) or
marked read, and only after every attachment is stored. Attachments are streamed from
`$value`, never taken from `contentBytes`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .base import (
    CHUNK_SIZE,
    IncomingAttachment,
    MessageGone,
    MessageRefused,
    MessageSummary,
    SourceError,
)
from .graph_client import GraphClient, NotFound
from .mime import MimeReader

logger = logging.getLogger(__name__)

#: Only what we store of a message, and of an attachment (never contentBytes).
MESSAGE_FIELDS = "id,internetMessageId,from,subject,receivedDateTime,hasAttachments"
ATTACHMENT_FIELDS = "id,name,contentType,size,isInline"
#: Messages per listing page.
PAGE_SIZE = 50
#: Folder names Graph resolves by itself.
WELL_KNOWN_FOLDERS = {"inbox", "archive", "drafts", "sentitems", "deleteditems", "junkemail", "msgfolderroot"}
DEFAULT_PROCESSED_FOLDER = "Processed"
#: Resolved folder ids per (mailbox, path), shared by every source object of the process.
_folder_ids: dict[tuple[str, str], str] = {}
_folder_lock = threading.Lock()


class GraphSource:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.user = str(settings.get("user") or "").strip()
        if "@" not in self.user and len(self.user) < 8:
            raise ValueError("a graph mailbox needs settings['user'] (the mailbox address)")
        self.folder = str(settings.get("folder") or "Inbox")
        self.mark_read = bool(settings.get("mark_read", False))
        self.processed_folder = (
            None if self.mark_read else str(settings.get("processed_folder") or DEFAULT_PROCESSED_FOLDER)
        )
        self.failed_folder = settings.get("failed_folder") or None
        self.include_inline = bool(settings.get("include_inline", False))
        self.client = GraphClient(self.user)

    def __repr__(self) -> str:
        return f"GraphSource({self.user!r}, folder={self.folder!r})"

    # listing -----------------------------------------------------------------

    def list_messages(
        self, *, since: dt.date | None = None, folders: Sequence[str] | None = None, include_processed: bool = False
    ) -> Iterator[MessageSummary]:
        """Messages of the folder(s), oldest first; a regular run in mark-read mode lists unread ones only."""
        names = list(folders or [self.folder])
        if include_processed and self.processed_folder and self.processed_folder not in names:
            names.append(self.processed_folder)
        backfill = since is not None or folders is not None or include_processed
        ids = [self._folder_id(name, create=False) for name in names]  # fail now, not half-way through
        return self._list(ids, since=since, unread_only=self.mark_read and not backfill)

    def _list(self, folder_ids: list[str], *, since: dt.date | None, unread_only: bool) -> Iterator[MessageSummary]:
        start = since.isoformat() + "T00:00:00Z" if since else "1900-01-01T00:00:00Z"
        query = f"receivedDateTime ge {start}" + (" and isRead eq false" if unread_only else "")
        for folder_id in folder_ids:
            params = {
                "$select": MESSAGE_FIELDS,
                "$filter": query,
                "$orderby": "receivedDateTime asc",
                "$top": PAGE_SIZE,
            }
            # Every page first: workers move messages out of the folder meanwhile, which would
            # shift the $skip of the next pages and hide messages until the next run.
            items = list(self.client.pages(f"/mailFolders/{folder_id}/messages", params))
            for item in items:
                yield _summary(item)

    # reading -----------------------------------------------------------------

    @contextmanager
    def open_message(self, source_id: str) -> Iterator[GraphMessageReader]:
        reader = GraphMessageReader(self, source_id)
        try:
            yield reader
        finally:
            reader.close()

    # settling ----------------------------------------------------------------

    def mark_processed(self, source_id: str) -> None:
        if self.processed_folder is None:  # mark_read
            self._patch_read(source_id)
        else:
            self._move(source_id, self.processed_folder)

    def content_digest(self, source_id: str) -> str | None:
        """Graph gives a message's MIME only by another download of it all: compare its parts instead."""
        return None

    def mark_failed(self, source_id: str, reason: str) -> None:
        """Moved to `failed_folder` when one is set; otherwise left in place (the database remembers)."""
        if self.failed_folder:
            self._move(source_id, self.failed_folder)

    def _patch_read(self, source_id: str) -> None:
        try:
            self.client.request("PATCH", f"/messages/{source_id}", json={"isRead": True})
        except NotFound:
            logger.warning("%s: message %s is gone; nothing to mark read", self.user, source_id)

    def _move(self, source_id: str, folder: str) -> None:
        target = self._folder_id(folder, create=True)
        try:
            current = self.client.get_json(f"/messages/{source_id}", {"$select": "id,parentFolderId"})
        except NotFound:
            logger.warning("%s: message %s is gone; nothing to move", self.user, source_id)
            return
        if current.get("parentFolderId") == target:
            return  # there already (a backfill of the processed folder, or a repeated call)
        try:
            self.client.request("POST", f"/messages/{source_id}/move", json={"destinationId": target})
        except NotFound:  # the message was there a moment ago: the cached folder was deleted
            _folder_ids.pop((self.user.lower(), folder.lower()), None)
            target = self._folder_id(folder, create=True)
            self.client.request("POST", f"/messages/{source_id}/move", json={"destinationId": target})

    def _folder_id(self, path: str, *, create: bool) -> str:
        """The id of a folder named by a path from the mailbox root ("Inbox/Suppliers"); made when asked."""
        key = (self.user.lower(), path.lower())
        if key in _folder_ids:
            return _folder_ids[key]
        with _folder_lock:
            parent = None
            for name in [part for part in path.split("/") if part]:
                parent = self._child_folder(parent, name, create=create)
            if parent is None:
                raise ValueError(f"empty folder name {path!r}")
            _folder_ids[key] = parent
            return parent

    def _child_folder(self, parent: str | None, name: str, *, create: bool) -> str:
        if parent is None and name.lower() in WELL_KNOWN_FOLDERS:
            return str(self.client.get_json(f"/mailFolders/{name.lower()}", {"$select": "id"})["id"])
        collection = f"/mailFolders/{parent}/childFolders" if parent else "/mailFolders"
        found = self._find_child(collection, name)
        if found is not None:
            return found
        if not create:
            raise SourceError(f"{self.user}: there is no mail folder {name!r}")
        try:
            return str(self.client.request("POST", collection, json={"displayName": name})["id"])
        except SourceError:
            # Another worker made it a moment ago (Graph answers 409 ErrorFolderExists): use theirs.
            found = self._find_child(collection, name)
            if found is None:
                raise
            return found

    def _find_child(self, collection: str, name: str) -> str | None:
        escaped = name.replace("'", "''")
        for folder in self.client.pages(
            collection, {"$filter": f"displayName eq '{escaped}'", "$select": "id,displayName"}
        ):
            return str(folder["id"])
        return None


class GraphMessageReader:
    """The attachments of one message, each streamed once from its `$value`."""

    def __init__(self, source: GraphSource, source_id: str) -> None:
        self.source, self.source_id = source, source_id
        self._path = f"/messages/{source_id}/attachments"
        self._temp_files: list[Path] = []
        #: What reading a forwarded message (an item attachment) found that belongs to none of its files.
        self.problems: list[str] = []

    def attachments(self) -> Iterator[IncomingAttachment]:
        try:
            listed = list(self.source.client.pages(self._path, {"$select": ATTACHMENT_FIELDS}))
        except NotFound:
            raise MessageGone(f"message {self.source_id} is no longer in {self.source.user}") from None
        for item in listed:
            kind = item.get("@odata.type", "").rsplit(".", 1)[-1]
            name = item.get("name") or ""
            content_type = item.get("contentType") or "application/octet-stream"
            if kind == "referenceAttachment":
                yield IncomingAttachment(
                    filename=name,
                    content_type=content_type,
                    skipped_reason="a link to a cloud file (reference attachment), not a file",
                )
            elif kind == "itemAttachment":
                yield from self._item(item, name)
            elif kind != "fileAttachment":
                yield IncomingAttachment(filename=name, skipped_reason=f"unknown attachment type {kind or '?'}")
            elif item.get("isInline") and content_type.startswith("image/") and not self.source.include_inline:
                yield IncomingAttachment(
                    filename=name,
                    content_type=content_type,
                    skipped_reason="inline image (settings: include_inline to keep them)",
                )
            else:
                yield IncomingAttachment(
                    filename=name,
                    content_type=content_type,
                    open_chunks=self._opener(f"{self._path}/{item['id']}/$value"),
                )

    def _opener(self, path: str) -> Callable[[], Iterator[bytes]]:
        return lambda: self._stream(path)

    def _stream(self, path: str) -> Iterator[bytes]:
        try:
            yield from self.source.client.stream(path)
        except NotFound:
            raise MessageGone(f"attachment {path} is no longer there") from None

    def _item(self, item: dict[str, Any], name: str) -> Iterator[IncomingAttachment]:
        """A forwarded message: stored whole as .eml, then its own attachments one by one."""
        from pipeline import config

        fd, temp = tempfile.mkstemp(prefix="graph-item-", suffix=".eml", dir=config.spool_dir())
        path = Path(temp)
        self._temp_files.append(path)
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in self._stream(f"{self._path}/{item['id']}/$value"):
                size += len(chunk)
                if size > config.MAX_ATTACHMENT_BYTES:
                    break
                out.write(chunk)
        eml_name = name if name.lower().endswith(".eml") else f"{name or 'forwarded message'}.eml"
        try:
            if size > config.MAX_ATTACHMENT_BYTES:
                yield IncomingAttachment(
                    filename=eml_name,
                    content_type="message/rfc822",
                    skipped_reason="forwarded message larger than the size limit; not stored",
                )
                return
            yield IncomingAttachment(
                filename=eml_name, content_type="message/rfc822", open_chunks=lambda: _file_chunks(path)
            )
            with path.open("rb") as fp:
                reader = MimeReader(fp)
                try:
                    yield from reader.attachments()
                except MessageRefused as exc:
                    raise MessageRefused(f"its forwarded message {eml_name!r}: {exc}") from None
            self.problems.extend(f"forwarded message {eml_name!r}: {problem}" for problem in reader.problems)
        finally:
            # Read: its spool goes now, not at close(), so a mail's forwarded messages never pile up.
            path.unlink(missing_ok=True)

    def close(self) -> None:
        for path in self._temp_files:
            path.unlink(missing_ok=True)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK_SIZE):
            yield chunk


def _summary(item: dict[str, Any]) -> MessageSummary:
    address = (item.get("from") or {}).get("emailAddress") or {}
    sender = address.get("address", "")
    if address.get("name") and address.get("name") != sender:
        sender = f"{address['name']} <{sender}>"
    received = item.get("receivedDateTime")
    try:
        received_at = dt.datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None
    except ValueError:
        received_at = None
    return MessageSummary(
        source_id=item["id"],
        internet_message_id=item.get("internetMessageId") or "",
        sender=sender,
        subject=item.get("subject") or "",
        received_at=received_at,
    )
