"""Deliveries of a message's save and of an attachment's preview, counted in the database; suspects sent alone.

Redis acks a message once its actor returns. A worker process that dies (a parser that aborts,
the kernel's OOM killer) takes every message it held: the one that killed it, its innocent
neighbour on the other thread, and the prefetched ones (never begun: plain stale work). If the
begun ones came back together, the culprit would kill its neighbours again, until each of them
reached the delivery limit.

So each row records where its latest delivery stands (`delivery_state`, since `delivery_at`):

    idle     no delivery under way; the next one may begin (counted)        -> running
    running  a delivery began and has not reported back
    suspect  it did not report back within the stale period: its worker died (or it
             ran longer than that). It is never delivered beside other suspects again
    turn     the catch-up sent it on its own                                  -> alone
    alone    that delivery began (counted); a second copy of it is refused

- A delivery begins only on an idle row, or on a turn still current. Any other is refused and
  not counted: the earlier delivery is still running, or it died and the row waits for its turn
  (Redis hands a dead worker's messages out again on its own, minutes later: refused here).
- A delivery that reports back (done, failed, or ended by an outage) leaves the row idle.
- At each tick the catch-up (catchup.py) makes suspects of rows whose delivery started before
  the stale period; then, when no suspect is in flight (a turn or lone delivery within the
  stale period), it sends the suspect that has waited longest, one for messages and previews
  together (one worker process serves both queues). Other work flows meanwhile.
- A message counts every delivery but those ended by an outage; a preview counts only the
  deliveries that never reported back (its own errors end with its retries, the last one
  recording it as failed). After config.MAX_DELIVERIES the next delivery gives up instead.

Why only the culprit reaches the limit: an innocent is counted once when a neighbour kills its
worker; from then on it is a suspect, delivered only while no other suspect is, so the culprit
(a suspect as well) never runs beside it again. The culprit's own turns each count against it.
An innocent thus ends with one delivery more than it needed: with PIPELINE_MAX_DELIVERIES=1
it would be given up with the culprit, from 2 on it comes through. A suspect costs a tick (and
a stale period when its turn kills the worker), so suspects drain at one per tick.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from django.db import models
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from pipeline import config

from ..models import Attachment, DeliveryState, FetchRun, MailMessage
from .runs import stale_before

logger = logging.getLogger(__name__)

Row = TypeVar("Row", MailMessage, Attachment)
#: The rows of one kind of work still to do (unfinished_messages, pending_previews).
Work = QuerySet[MailMessage] | QuerySet[Attachment]

#: A suspect sent on its own, and still within its time.
_IN_FLIGHT = (DeliveryState.TURN, DeliveryState.ALONE)


def unfinished_messages() -> QuerySet[MailMessage]:
    """Messages whose save still has work: pending, or stored and not yet settled at the source.

    A cancelled run's messages are left alone: a later run that lists them again takes them over.
    """
    unfinished = Q(status=MailMessage.Status.PENDING) | Q(status=MailMessage.Status.PROCESSED, settled_at__isnull=True)
    return MailMessage.objects.filter(unfinished).exclude(fetch_run__status=FetchRun.Status.CANCELLED)


def pending_previews() -> QuerySet[Attachment]:
    return Attachment.objects.filter(preview_status=Attachment.PreviewStatus.PENDING)


def delivery_begin(*, work: QuerySet[Row], pk: int) -> bool:
    """Count one delivery of row `pk` of `work` (the rows still to do); False when it must not run now."""
    now = timezone.now()
    turn = Q(delivery_state=DeliveryState.TURN, delivery_at__gte=stale_before())
    begun = (  # one UPDATE: the test and the count together, no transaction needed around it
        work.filter(pk=pk)
        .filter(Q(delivery_state=DeliveryState.IDLE) | turn)
        .update(
            delivery_attempts=F("delivery_attempts") + 1,
            delivery_state=Case(
                When(delivery_state=DeliveryState.TURN, then=Value(DeliveryState.ALONE)),
                default=Value(DeliveryState.RUNNING),
            ),
            delivery_at=now,
            updated_at=now,
        )
    )
    if not begun:
        state = work.filter(pk=pk).values_list("delivery_state", flat=True).first()
        if state is not None:
            logger.info("%s %s not delivered now: its delivery state is %s", work.model.__name__, pk, state)
    return bool(begun)


def delivery_end(*, model: type[Row], pk: int, uncount: bool = False, **fields: object) -> None:
    """The delivery reported back: the row is idle; `uncount` takes back what it counted."""
    model._default_manager.filter(pk=pk).update(**delivery_over(uncount=uncount), **fields)


def delivery_over(*, uncount: bool = False) -> dict[str, object]:
    """The changes that end a delivery, for the UPDATE that records its outcome (delivery_end's).

    `uncount` takes back what it counted, once: a delivery already over is not uncounted again.
    """
    changes: dict[str, object] = {"delivery_state": DeliveryState.IDLE, "delivery_at": timezone.now()}
    if uncount:
        changes["delivery_attempts"] = Case(
            When(delivery_state=DeliveryState.IDLE, then=F("delivery_attempts")),
            default=Greatest(F("delivery_attempts") - 1, Value(0)),
        )
    return changes


def suspects_mark(*, work: Work) -> int:
    """Rows whose delivery has not reported back within the stale period become suspects; how many."""
    waiting = (DeliveryState.RUNNING, *_IN_FLIGHT)
    return work.filter(delivery_state__in=waiting, delivery_at__lt=stale_before()).update(
        delivery_state=DeliveryState.SUSPECT
    )


def suspect_turn_grant(*, kinds: tuple[Work, ...]) -> tuple[int, int] | None:
    """Send one suspect on its own when none is in flight: (index of its kind in `kinds`, its pk), or None.

    The one that has waited longest goes first; a suspect whose turn killed the worker again
    waits behind the others. Suspects past the delivery limit gave up already.
    """
    cutoff = stale_before()
    if any(work.filter(delivery_state__in=_IN_FLIGHT, delivery_at__gte=cutoff).exists() for work in kinds):
        return None
    candidates = []
    for index, work in enumerate(kinds):
        waiting = work.filter(delivery_state=DeliveryState.SUSPECT, delivery_attempts__lte=config.MAX_DELIVERIES)
        oldest = waiting.order_by("delivery_at", "pk").values_list("delivery_at", "pk").first()
        if oldest is not None:
            candidates.append((oldest[0], index, oldest[1]))
    if not candidates:
        return None
    _, index, pk = min(candidates)
    now = timezone.now()
    model: type[models.Model] = kinds[index].model
    granted = model._default_manager.filter(pk=pk, delivery_state=DeliveryState.SUSPECT).update(
        delivery_state=DeliveryState.TURN, delivery_at=now, updated_at=now
    )
    if not granted:
        return None
    logger.warning("%s %s is a suspect (a delivery of it did not finish): sent again on its own", model.__name__, pk)
    return index, pk
