"""What a PDF attachment's first request does to its thumbnail (webapp/inbox/services/preview_requests.py).

The pipeline no longer draws PDF thumbnails: a test that reads one makes it as the preview view would.
"""

from __future__ import annotations

from collections.abc import Iterable

from webapp.inbox.models import Attachment
from webapp.inbox.services.preview_requests import attachment_preview_made


def make_thumbnail(attachment: Attachment) -> Attachment:
    """The attachment after its thumbnail's first request: READY, FAILED with why, or as it was when none is made."""
    return attachment_preview_made(attachment=attachment)


def make_thumbnails(attachments: Iterable[Attachment] | None = None) -> list[Attachment]:
    """Each attachment's thumbnail made on request (every one waiting for it, in id order, by default)."""
    chosen = (
        Attachment.objects.filter(preview_status=Attachment.PreviewStatus.ON_REQUEST).order_by("pk")
        if attachments is None
        else attachments
    )
    return [make_thumbnail(attachment) for attachment in chosen]
