"""Is every stored object really there? Check each Blob against storage; repair from the source.

Hashing streams the object in 64 KB chunks; a repair fetches the attachment again from its
message at the source (the folder source's processed/ .eml, or the Graph message by its
immutable id) through the same streaming path as the first save, and keeps it only when its
hash is the Blob's.

What is made from a Blob (an attachment's preview here, a Document's printable and thumbnail in
webapp/documents/services/integrity.py) is checked for being there; one that is missing is made
again rather than fetched: a preview's row goes back to pending, and the tick's catch-up renders
it; a printable goes back to "on request", and its next request draws it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.files.storage import storages

from pipeline import config
from pipeline.sources.base import CHUNK_SIZE, MessageGone, SourceError
from pipeline.storage import ContentTooLarge, save_spooled, spool

from ..models import Attachment, Blob
from .messages import THUMBNAIL_TYPES
from .runs import mailbox_source


@dataclass
class BlobProblem:
    blob_id: int
    sha256: str
    storage_name: str
    problem: str
    repaired: bool = False
    repair_note: str = ""


def blob_problem(blob: Blob) -> str:
    """ "" when the object is there with the Blob's size and hash, else what is wrong."""
    storage = storages["default"]
    digest, size = hashlib.sha256(), 0
    try:
        with storage.open(blob.storage_name, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return "missing from storage"
    except OSError as exc:
        return f"unreadable: {type(exc).__name__}: {exc}"
    if size != blob.size:
        return f"size {size} bytes, expected {blob.size}"
    if digest.hexdigest() != blob.sha256:
        return f"content hash {digest.hexdigest()}, expected {blob.sha256}"
    return ""


def verify_blobs(*, repair: bool = False) -> Iterator[tuple[Blob, BlobProblem | None]]:
    """Every Blob, in id order, with its problem (None when sound); repaired on the way when asked."""
    for blob in Blob.objects.order_by("pk").iterator(chunk_size=500):
        problem = blob_problem(blob)
        if not problem:
            yield blob, None
            continue
        found = BlobProblem(blob_id=blob.pk, sha256=blob.sha256, storage_name=blob.storage_name, problem=problem)
        if repair:
            found.repaired, found.repair_note = blob_repair(blob)
        yield blob, found


def blob_repair(blob: Blob) -> tuple[bool, str]:
    """Fetch the content again from a message that carried it; (repaired, what happened)."""
    notes = []
    for attachment in Attachment.objects.filter(blob=blob).select_related("message__mailbox").order_by("-pk"):
        message = attachment.message
        source = mailbox_source(message.mailbox)
        opener = getattr(source, "open_processed", source.open_message)
        try:
            with opener(message.source_id) as reader:
                for position, incoming in enumerate(reader.attachments()):
                    if position != attachment.position:
                        continue
                    if incoming.open_chunks is None:
                        notes.append(f"message {message.pk}: the source no longer delivers attachment {position}")
                        break
                    with spool(
                        incoming.open_chunks(),
                        max_bytes=config.MAX_ATTACHMENT_BYTES,
                        directory=config.spool_dir(),
                    ) as spooled:
                        if spooled.sha256 != blob.sha256:
                            notes.append(f"message {message.pk}: attachment {position} has other content now")
                            break
                        storage = storages["default"]
                        if storage.exists(blob.storage_name):  # damaged: the good copy replaces it
                            storage.delete(blob.storage_name)
                        save_spooled(storage, spooled)
                    if blob_problem(blob):
                        notes.append(f"message {message.pk}: stored again but still does not check out")
                        break
                    return True, f"fetched again from message {message.pk} ({message.mailbox}: {message.source_id})"
                else:
                    notes.append(f"message {message.pk}: attachment {attachment.position} not found in it")
        except (MessageGone, FileNotFoundError):
            notes.append(f"message {message.pk}: no longer at the source")
        except (SourceError, ContentTooLarge, ValueError) as exc:
            notes.append(f"message {message.pk}: {type(exc).__name__}: {exc}")
    return False, "; ".join(notes) or "no attachment refers to it"


@dataclass
class DerivedProblem:
    """A file the database says was made (a preview, a printable) that storage does not have."""

    what: str  # e.g. "preview of attachment 12"
    storage_name: str
    problem: str
    reset: bool = False
    remedy: str = "reset to pending: the next tick's catch-up makes it again"  # what the reset does


def stored_file_checker() -> Callable[[str], str]:
    """A check of names against storage, each name asked once: "" when there, else what is wrong."""
    storage = storages["default"]
    seen: dict[str, str] = {}

    def problem(name: str) -> str:
        if name not in seen:
            try:
                seen[name] = "" if storage.exists(name) else "missing from storage"
            except OSError as exc:
                seen[name] = f"unreadable: {type(exc).__name__}: {exc}"
        return seen[name]

    return problem


def verify_previews(*, reset: bool = False, check: Callable[[str], str] | None = None) -> Iterator[DerivedProblem]:
    """Every attachment whose preview is ready but not in storage; with `reset`, set back to be made again
    (a PDF's thumbnail on its next request, any other preview by the render queue)."""
    check = check or stored_file_checker()
    ready = Attachment.objects.filter(preview_status=Attachment.PreviewStatus.READY).exclude(preview_name="")
    rows = ready.order_by("pk").values_list("pk", "preview_name", "content_type").iterator(chunk_size=500)
    for attachment_id, name, content_type in rows:
        problem = check(name)
        if not problem:
            continue
        on_request = content_type in THUMBNAIL_TYPES
        if reset:
            previews_reset(attachment_ids=[attachment_id], on_request=on_request)
        yield DerivedProblem(
            f"preview of attachment {attachment_id}",
            name,
            problem,
            reset=reset,
            **({"remedy": "reset: made again on its next request"} if on_request else {}),
        )


def previews_reset(*, attachment_ids: list[int], on_request: bool = False) -> int:
    """Previews to make again: pending, so the catch-up sends them to the render queue, or made on their next
    request (a PDF's thumbnail, preview_requests.py); returns how many."""
    status = Attachment.PreviewStatus.ON_REQUEST if on_request else Attachment.PreviewStatus.PENDING
    return Attachment.objects.filter(pk__in=attachment_ids).update(
        preview_status=status, preview_name="", preview_error=""
    )
