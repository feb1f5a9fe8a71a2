"""The database-driven catch-up: work left pending too long is found and sent again.

Redis only carries work. A message Redis lost, or one whose worker died, stays pending
in the database, and the next tick sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from ..models import Attachment, FetchRun, MailMessage
from .runs import stale_before


@dataclass(frozen=True)
class StaleWork:
    runs: list[int]
    messages: list[int]
    previews: list[int]


def stale_work_claim(*, limit: int = 500) -> StaleWork:
    """Ids of stale pending work; messages and previews are touched so they wait another period."""
    cutoff = stale_before()
    now = timezone.now()
    runs = list(
        FetchRun.objects.filter(status=FetchRun.Status.PENDING, created_at__lt=cutoff).values_list("pk", flat=True)[
            :limit
        ]
    )
    unfinished = Q(status=MailMessage.Status.PENDING) | Q(status=MailMessage.Status.PROCESSED, settled_at__isnull=True)
    messages = list(  # a cancelled run's messages wait for a later run to list them again
        MailMessage.objects.filter(unfinished, updated_at__lt=cutoff)
        .exclude(fetch_run__status=FetchRun.Status.CANCELLED)
        .values_list("pk", flat=True)[:limit]
    )
    MailMessage.objects.filter(pk__in=messages).update(updated_at=now)
    previews = list(
        Attachment.objects.filter(preview_status=Attachment.PreviewStatus.PENDING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:limit]
    )
    Attachment.objects.filter(pk__in=previews).update(updated_at=now)
    return StaleWork(runs=runs, messages=messages, previews=previews)
