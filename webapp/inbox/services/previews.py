"""Previews: a PNG of a stored PDF's first page, stored once per content."""

from __future__ import annotations

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import storages

from pipeline import config
from pipeline.storage import local_copy, preview_name

from ..models import Attachment

logger = logging.getLogger(__name__)


def attachment_render_preview(*, attachment: Attachment) -> Attachment:
    """Render and store the preview; a file PDFium cannot read is recorded as FAILED with why."""
    from pipeline.render.thumbnails import RenderError, pdf_thumbnail  # PDFium loads only where previews are made

    if attachment.preview_status != Attachment.PreviewStatus.PENDING or attachment.blob is None:
        return attachment
    storage = storages["default"]
    name = preview_name(attachment.blob.sha256)
    try:
        with local_copy(storage, attachment.blob.storage_name, directory=config.state_dir() / "tmp") as path:
            png = pdf_thumbnail(path)
    except RenderError as exc:
        return _preview_update(attachment, status=Attachment.PreviewStatus.FAILED, error=str(exc)[:2000])
    storage.save(name, ContentFile(png, name=name))
    return _preview_update(attachment, status=Attachment.PreviewStatus.READY, name=name)


def attachment_preview_failed(*, attachment: Attachment, error: str) -> Attachment:
    """Give up on a preview: recorded as FAILED with why, so the catch-up stops sending it."""
    return _preview_update(attachment, status=Attachment.PreviewStatus.FAILED, error=error[:2000])


def _preview_update(attachment: Attachment, *, status: str, name: str = "", error: str = "") -> Attachment:
    Attachment.objects.filter(pk=attachment.pk).update(preview_status=status, preview_name=name, preview_error=error)
    attachment.refresh_from_db()
    if status == Attachment.PreviewStatus.FAILED:
        logger.warning("no preview for attachment %s: %s", attachment.pk, error)
    return attachment
