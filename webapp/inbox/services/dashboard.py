"""What the admin's pipeline dashboard shows and does: retry failed mail, re-render failed previews;
documents whose copies conflict or whose timbre does not verify."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse

from ..models import Attachment, DeliveryState, FetchRun, MailMessage
from .access import limit_to_mailboxes

#: Rows shown per "needs a look" list.
LIST_LIMIT = 20


def needing_a_look(*, mailbox_ids: set[int] | None) -> dict:
    """What failed, in the mailboxes `mailbox_ids` (None: all): the latest rows and the counts."""
    runs = limit_to_mailboxes(FetchRun.objects.all(), mailbox_ids, mailbox_field="mailbox_id")
    quarantined = limit_to_mailboxes(
        MailMessage.objects.filter(status=MailMessage.Status.QUARANTINED), mailbox_ids, mailbox_field="mailbox_id"
    )
    failed_previews = limit_to_mailboxes(
        Attachment.objects.filter(preview_status=Attachment.PreviewStatus.FAILED),
        mailbox_ids,
        mailbox_field="message__mailbox_id",
    )
    return {
        "runs": runs.select_related("mailbox").filter(
            Q(status=FetchRun.Status.FAILED) | Q(status=FetchRun.Status.COMPLETED_WITH_ERRORS)
        )[:LIST_LIMIT],
        "messages": quarantined.select_related("mailbox").order_by("-updated_at")[:LIST_LIMIT],
        "previews": failed_previews.select_related("message").order_by("-updated_at")[:LIST_LIMIT],
        "quarantined_count": quarantined.count(),
        "failed_preview_count": failed_previews.count(),
    }


def documents_in_doubt(*, mailbox_ids: set[int] | None) -> dict:
    """Documents of `mailbox_ids` (None: all) that cannot be trusted as they are, counted, and the
    filtered Document lists that show them: copies that say different things, a timbre that does not
    verify (invalid or missing)."""
    from webapp.documents.admin_filters import TED_FAILING_VALUE
    from webapp.documents.admin_trust import TED_FAILING
    from webapp.documents.models import Document

    documents = limit_to_mailboxes(Document.objects.order_by(), mailbox_ids, mailbox_field="mailbox_id")
    counts = documents.aggregate(
        conflicts=Count("pk", filter=Q(conflict=True)), ted_failing=Count("pk", filter=Q(ted__in=TED_FAILING))
    )
    listing = reverse("admin:documents_document_changelist")
    return {
        "conflict_count": counts["conflicts"],
        "conflict_url": f"{listing}?conflict=yes",
        "ted_failing_count": counts["ted_failing"],
        "ted_failing_url": f"{listing}?ted={TED_FAILING_VALUE}",
    }


def _send_after_commit(send: Callable[[int], object], pk: int) -> None:
    """Send `pk` once the transaction commits; a failed send is logged, never raised."""
    # A lambda, not functools.partial: Django logs a failed robust hook by its __qualname__.
    transaction.on_commit(lambda: send(pk), robust=True)


def messages_retry_failed(*, mailbox_ids: set[int] | None) -> int:
    """Quarantined messages of `mailbox_ids` (None: all) back to PENDING with their delivery count
    reset, sent again once committed."""
    from pipeline.actors import save_message  # importing the actors sets up the broker: keep it lazy

    quarantined = MailMessage.objects.filter(status=MailMessage.Status.QUARANTINED)
    with transaction.atomic():
        ids = list(
            limit_to_mailboxes(quarantined, mailbox_ids, mailbox_field="mailbox_id")
            .select_for_update()
            .values_list("pk", flat=True)
        )
        MailMessage.objects.filter(pk__in=ids).update(
            status=MailMessage.Status.PENDING, delivery_attempts=0, delivery_state=DeliveryState.IDLE, error=""
        )
        for pk in ids:
            _send_after_commit(save_message.send, pk)
    return len(ids)


def previews_rerender_failed(*, mailbox_ids: set[int] | None) -> int:
    """Failed previews of `mailbox_ids` (None: all) back to PENDING, sent to the render queue once committed."""
    from pipeline.actors import render_attachment

    failed = Attachment.objects.filter(preview_status=Attachment.PreviewStatus.FAILED)
    with transaction.atomic():
        ids = list(
            limit_to_mailboxes(failed, mailbox_ids, mailbox_field="message__mailbox_id")
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        Attachment.objects.filter(pk__in=ids).update(
            preview_status=Attachment.PreviewStatus.PENDING,
            preview_error="",
            delivery_attempts=0,
            delivery_state=DeliveryState.IDLE,
        )
        for pk in ids:
            _send_after_commit(render_attachment.send, pk)
    return len(ids)
