"""A stored PDF's thumbnail, drawn on its first request and kept.

The pipeline records a PDF attachment's preview as ON_REQUEST (messages.py): drawing every supplier
PDF's first page was a fifth of a mail's work, and most are never looked at. The first request that
shows one (the thumbnail column of the attachment lists, the preview download) calls
`attachment_preview_made`: the stored PDF is drawn by the same sandboxed call the render queue
used (pipeline/render/calls.py, with its limits and deadline), stored under its content's hash
(one object for every attachment with those bytes), and the row records READY, or FAILED with why.

Idempotent, as the printables' (webapp/documents/services/printable_requests.py): the drawing is
deterministic, so two first requests in two web processes store one object under one name and
write the same row; within a process they take turns, and the second finds the first's result.
A failure recorded late never overwrites a thumbnail another process made.
"""

from __future__ import annotations

import logging

from django.core.files.storage import storages
from django.utils import timezone

from pipeline.storage import preview_name
from webapp.turns import NoDrawingSlot, drawing_slot, turn

from ..models import Attachment
from .previews import thumbnail_stored

logger = logging.getLogger(__name__)

_FIELDS = ("preview_status", "preview_name", "preview_error")


class PreviewNotNow(Exception):
    """The thumbnail could not be made now (storage, database, every drawing slot busy); nothing was recorded,
    a later request tries again."""


def preview_offered(attachment: Attachment) -> bool:
    """Whether a page may show the thumbnail: made, or made when asked for."""
    return attachment.preview_status in (Attachment.PreviewStatus.READY, Attachment.PreviewStatus.ON_REQUEST)


def attachment_preview_made(*, attachment: Attachment) -> Attachment:
    """The attachment with its thumbnail READY, or FAILED with why: drawn now when it was not yet.

    Call with an attachment the user may see (the views scope it first). Raises PreviewNotNow when the
    work could not be done now; the row is then left as it was.
    """
    if attachment.preview_status != Attachment.PreviewStatus.ON_REQUEST:
        return attachment
    with turn(("attachment preview", attachment.pk)):
        blob = _refresh(attachment)
        if attachment.preview_status != Attachment.PreviewStatus.ON_REQUEST:
            return attachment
        if blob is None:  # its bytes were never stored: nothing to draw, and nothing will be
            _record(attachment, status=Attachment.PreviewStatus.FAILED, error="the file is not stored")
            return attachment
        try:
            _draw_and_store(attachment, sha256=blob[0], storage_name=blob[1])
        except (OSError, NoDrawingSlot) as exc:
            logger.warning("thumbnail of attachment %s not made now: %s", attachment.pk, exc)
            raise PreviewNotNow(str(exc)) from exc
    return attachment


def _draw_and_store(attachment: Attachment, *, sha256: str, storage_name: str) -> None:
    from pipeline.render.calls import RenderError  # PDFium loads only in the sandbox's child

    name = preview_name(sha256)
    if storages["default"].exists(name):  # drawn already for another attachment of the same bytes
        _record(attachment, status=Attachment.PreviewStatus.READY, name=name)
        return
    try:
        with drawing_slot():
            thumbnail_stored(sha256=sha256, storage_name=storage_name)
    except RenderError as exc:
        logger.warning("no thumbnail for attachment %s: %s", attachment.pk, exc)
        _record(attachment, status=Attachment.PreviewStatus.FAILED, error=str(exc))
        return
    _record(attachment, status=Attachment.PreviewStatus.READY, name=name)


def _record(attachment: Attachment, *, status: str, name: str = "", error: str = "") -> None:
    """Write the outcome where the row still waits for it; the instance follows the row either way."""
    Attachment.objects.filter(pk=attachment.pk, preview_status=Attachment.PreviewStatus.ON_REQUEST).update(
        preview_status=status, preview_name=name, preview_error=error[:2000], updated_at=timezone.now()
    )
    _refresh(attachment)


def _refresh(attachment: Attachment) -> tuple[str, str] | None:
    """Read the preview's fields again; the stored content's hash and name, or None when nothing is stored."""
    row = Attachment.objects.filter(pk=attachment.pk).values(*_FIELDS, "blob__sha256", "blob__storage_name").first()
    if row is None:
        attachment.preview_status = Attachment.PreviewStatus.NONE
        return None
    for field in _FIELDS:
        setattr(attachment, field, row[field])
    return (row["blob__sha256"], row["blob__storage_name"]) if row["blob__sha256"] else None
