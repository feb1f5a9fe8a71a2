"""Previews: a PNG of a stored PDF's first page, stored once per content; render deliveries counted."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import translation
from django.utils.translation import ngettext

from pipeline import config
from pipeline.storage import local_copy, preview_name

from ..models import Attachment
from .deliveries import delivery_begin, delivery_end, delivery_over, pending_previews

logger = logging.getLogger(__name__)


def attachment_begin_render(*, attachment_id: int) -> Attachment | None:
    """Count one render delivery; the attachment to render, or None when it must not be rendered now.

    None when its preview is not pending, when an earlier delivery has not reported back
    (deliveries.py), or when it has stopped the worker too often: then its preview is FAILED,
    with a reason an accountant can read, and nothing sends it again.
    """
    if not delivery_begin(work=pending_previews(), pk=attachment_id):
        return None
    attachment = Attachment.objects.select_related("blob", "message__mailbox").get(pk=attachment_id)
    if attachment.preview_status != Attachment.PreviewStatus.PENDING:  # recorded since, by an earlier delivery
        attachment_end_render(attachment_id=attachment_id)
        return None
    if attachment.delivery_attempts > config.MAX_DELIVERIES:
        count = config.MAX_DELIVERIES
        with translation.override(settings.LANGUAGE_CODE):  # the site's language, whatever this thread served last
            reason = ngettext(
                "gave up: making the preview did not finish %(count)d time",
                "gave up: making the preview did not finish %(count)d times",
                count,
            ) % {"count": count}
        attachment_preview_failed(attachment=attachment, error=reason)
        return None
    return attachment


def attachment_end_render(*, attachment_id: int) -> None:
    """The render delivery reported back, whatever its outcome: not held against the attachment.

    Its own errors end with the actor's retries (the last records the preview as FAILED); only
    deliveries that never report back, because they stopped the worker, count toward the limit.
    A preview recorded (attachment_preview_record) ended its delivery already.
    """
    delivery_end(model=Attachment, pk=attachment_id, uncount=True)


def attachment_finish_render(*, attachment: Attachment) -> None:
    """The render delivery reported back: it ends here, unless recording the preview ended it already."""
    if attachment.preview_status == Attachment.PreviewStatus.PENDING:
        attachment_end_render(attachment_id=attachment.pk)


def attachment_preview_record(*, attachment: Attachment, status: str, name: str = "", error: str = "") -> None:
    """Record the preview's outcome on the row and the instance; the render delivery ends in the same UPDATE.

    Once the preview is no longer PENDING nothing delivers it again, so the outcome and the end
    of the delivery are one write: a worker killed before it redoes the work, after it nothing.
    """
    fields = {"preview_status": status, "preview_name": name, "preview_error": error[:2000]}
    Attachment.objects.filter(pk=attachment.pk).update(**fields, **delivery_over(uncount=True))
    for field, value in fields.items():
        setattr(attachment, field, value)


def attachment_render_preview(*, attachment: Attachment) -> Attachment:
    """Render and store the preview; a file PDFium cannot read is recorded as FAILED with why."""
    from pipeline.render.calls import RenderError  # PDFium loads only in the sandbox's child

    if attachment.preview_status != Attachment.PreviewStatus.PENDING or attachment.blob is None:
        return attachment
    try:
        name = thumbnail_stored(sha256=attachment.blob.sha256, storage_name=attachment.blob.storage_name)
    except RenderError as exc:
        return _preview_update(attachment, status=Attachment.PreviewStatus.FAILED, error=str(exc)[:2000])
    return _preview_update(attachment, status=Attachment.PreviewStatus.READY, name=name)


def thumbnail_stored(*, sha256: str, storage_name: str) -> str:
    """Draw a stored PDF's first page (in the sandbox's child) and store the PNG under its content's name.

    Returns that name. RenderError: PDFium cannot draw it (the reason a person can read); OSError: storage.
    """
    from pipeline.render.calls import pdf_thumbnail  # PDFium loads only in the sandbox's child

    storage = storages["default"]
    name = preview_name(sha256)
    with local_copy(storage, storage_name, directory=config.spool_dir()) as path:
        png = pdf_thumbnail(path)
    storage.save(name, ContentFile(png, name=name))
    return name


def attachment_preview_failed(*, attachment: Attachment, error: str) -> Attachment:
    """Give up on a preview: recorded as FAILED with why, so the catch-up stops sending it; the delivery is over."""
    return _preview_update(attachment, status=Attachment.PreviewStatus.FAILED, error=error[:2000])


def _preview_update(attachment: Attachment, *, status: str, name: str = "", error: str = "") -> Attachment:
    attachment_preview_record(attachment=attachment, status=status, name=name, error=error)
    if status == Attachment.PreviewStatus.FAILED:
        logger.warning("no preview for attachment %s: %s", attachment.pk, error)
    return attachment
