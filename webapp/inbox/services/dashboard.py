"""What the admin's pipeline dashboard shows and does: retry failed mail, re-render failed previews."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models import Q

from ..models import Attachment, FetchRun, MailMessage

#: Rows shown per "needs a look" list.
LIST_LIMIT = 20


def needing_a_look() -> dict:
    return {
        "runs": FetchRun.objects.select_related("mailbox").filter(
            Q(status=FetchRun.Status.FAILED) | Q(status=FetchRun.Status.COMPLETED_WITH_ERRORS)
        )[:LIST_LIMIT],
        "messages": MailMessage.objects.select_related("mailbox")
        .filter(status=MailMessage.Status.QUARANTINED)
        .order_by("-updated_at")[:LIST_LIMIT],
        "previews": Attachment.objects.select_related("message")
        .filter(preview_status=Attachment.PreviewStatus.FAILED)
        .order_by("-updated_at")[:LIST_LIMIT],
        "quarantined_count": MailMessage.objects.filter(status=MailMessage.Status.QUARANTINED).count(),
        "failed_preview_count": Attachment.objects.filter(preview_status=Attachment.PreviewStatus.FAILED).count(),
    }


def _send_after_commit(send: Callable[[int], object], pk: int) -> None:
    """Send `pk` once the transaction commits; a failed send is logged, never raised."""
    # A lambda, not functools.partial: Django logs a failed robust hook by its __qualname__.
    transaction.on_commit(lambda: send(pk), robust=True)


def messages_retry_failed() -> int:
    """Quarantined messages back to PENDING with their delivery count reset, sent again once committed."""
    from pipeline.actors import save_message  # importing the actors sets up the broker: keep it lazy

    with transaction.atomic():
        ids = list(
            MailMessage.objects.select_for_update()
            .filter(status=MailMessage.Status.QUARANTINED)
            .values_list("pk", flat=True)
        )
        MailMessage.objects.filter(pk__in=ids).update(status=MailMessage.Status.PENDING, delivery_attempts=0, error="")
        for pk in ids:
            _send_after_commit(save_message.send, pk)
    return len(ids)


def previews_rerender_failed() -> int:
    """Failed previews back to PENDING, sent to the render queue once committed."""
    from pipeline.actors import render_attachment

    with transaction.atomic():
        ids = list(
            Attachment.objects.select_for_update()
            .filter(preview_status=Attachment.PreviewStatus.FAILED)
            .values_list("pk", flat=True)
        )
        Attachment.objects.filter(pk__in=ids).update(preview_status=Attachment.PreviewStatus.PENDING, preview_error="")
        for pk in ids:
            _send_after_commit(render_attachment.send, pk)
    return len(ids)
