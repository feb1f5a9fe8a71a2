"""The database-driven catch-up: work left pending too long is found and sent again.

Redis only carries work. A message Redis lost stays pending in the database, and the next
tick sends it again. Work whose delivery never reported back (its worker died) is a suspect:
it is sent again on its own, one suspect at a time (deliveries.py says how and why).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from pipeline import config

from ..models import DeliveryState, FetchRun
from .deliveries import Work, pending_previews, suspect_turn_grant, suspects_mark, unfinished_messages
from .runs import stale_before


@dataclass(frozen=True)
class StaleWork:
    runs: list[int]
    messages: list[int]
    previews: list[int]


def stale_work_claim(*, limit: int = 500) -> StaleWork:
    """Ids of stale pending work, and of the suspect whose turn it is; claimed rows wait another period."""
    cutoff = stale_before()
    now = timezone.now()
    runs = list(
        FetchRun.objects.filter(status=FetchRun.Status.PENDING, created_at__lt=cutoff).values_list("pk", flat=True)[
            :limit
        ]
    )
    kinds: tuple[Work, Work] = (unfinished_messages(), pending_previews())
    claimed: tuple[list[int], list[int]] = ([], [])
    for work, ids in zip(kinds, claimed, strict=True):
        suspects_mark(work=work)
        stale = work.filter(
            delivery_state=DeliveryState.IDLE, updated_at__lt=cutoff, delivery_attempts__lte=config.MAX_DELIVERIES
        )
        ids.extend(stale.values_list("pk", flat=True)[:limit])
        work.model._default_manager.filter(pk__in=ids).update(updated_at=now)
    turn = suspect_turn_grant(kinds=kinds)
    if turn is not None:
        index, pk = turn
        claimed[index].append(pk)
    messages, previews = claimed
    return StaleWork(runs=runs, messages=messages, previews=previews)
