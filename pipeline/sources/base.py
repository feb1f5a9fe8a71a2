"""What every mailbox source offers the pipeline.

A source lists messages, streams each message's attachments, and marks a message as done
(or failed for good) at the source. The actors only ever see this interface, so the folder
source of the embedded default and the Microsoft Graph source are interchangeable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

#: Chunk size for every streamed read: small enough that no attachment is held whole.
CHUNK_SIZE = 64 * 1024


class SourceError(Exception):
    """The source could not be read now; trying again later may work."""


class MessageGone(Exception):
    """The message is no longer at the source (moved or deleted by someone else)."""


class MessageRefused(Exception):
    """The message is past one of the reader's limits (too many parts, headers too long...).

    Reading it again ends the same way: it is quarantined with this text as the reason.
    """


@dataclass(frozen=True)
class MessageSummary:
    """What listing a mailbox tells about one message."""

    source_id: str
    internet_message_id: str = ""
    sender: str = ""
    subject: str = ""
    received_at: dt.datetime | None = None


@dataclass
class IncomingAttachment:
    """One attachment of a message, not yet read.

    `open_chunks` returns an iterator of bytes chunks of the decoded content; it is called
    at most once. `skipped_reason` is set for parts the source recognised but will not
    deliver (a link to a cloud file, an inline image...), which are recorded, not stored.
    """

    filename: str
    content_type: str = "application/octet-stream"
    open_chunks: Callable[[], Iterator[bytes]] | None = None
    skipped_reason: str = ""
    problems: list[str] = field(default_factory=list)


class MessageReader(Protocol):
    """An opened message: its attachments, in order, each streamed once.

    `problems` holds what the reader noticed that belongs to no attachment (a part it could
    not read, a boundary that never came...); it is complete once `attachments()` is exhausted.
    `attachments()` raises MessageRefused when the message is past a limit.
    """

    problems: list[str]

    def attachments(self) -> Iterator[IncomingAttachment]: ...


class Source(Protocol):
    def list_messages(
        self, *, since: dt.date | None = None, folders: Sequence[str] | None = None, include_processed: bool = False
    ) -> Iterator[MessageSummary]:
        """Every message waiting at the source, oldest first.

        The options are for a backfill: mail received on or after `since`, from `folders`
        (source-specific names) instead of the usual one, and from the folder of processed
        mail too. A source honours what it can and raises ValueError for what it cannot.
        """

    def open_message(self, source_id: str) -> AbstractContextManager[MessageReader]:
        """Open one message for reading; raises MessageGone when it is no longer there."""

    def mark_processed(self, source_id: str) -> None:
        """Called only after every attachment of the message is stored."""

    def mark_failed(self, source_id: str, reason: str) -> None:
        """Called when the message is quarantined for good."""

    def content_digest(self, source_id: str) -> str | None:
        """The SHA-256 of the message's own bytes where the source has them whole, else None.

        Two messages with one digest are one mail; without it, the pipeline compares the
        Message-ID and the attachments (webapp.inbox.services.messages.message_fingerprint).
        """
