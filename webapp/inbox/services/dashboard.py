"""What the admin's pipeline dashboard shows and does: what is wrong now, the worst first (its
headline); retry failed mail, re-render failed previews; documents whose copies conflict or whose
timbre does not verify."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import Attachment, DeliveryState, FetchRun, Mailbox, MailMessage
from .access import limit_to_mailboxes
from .health import MISSED_SLOTS_LIMIT

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


# The headline: what is wrong now, the worst first -------------------------------------------------

#: A read that failed this recently still counts as "a failed mailbox read".
FAILED_READS_WINDOW = dt.timedelta(hours=24)
#: Longest reason quoted after a mailbox that cannot be read.
REASON_LENGTH = 160


@dataclass(frozen=True)
class Alert:
    """One thing wrong now: what the page says, where its rows are (None: nowhere to go), and a name
    for its CSS class (the tests find an alert by it)."""

    key: str
    text: str
    url: str | None


def alerts_now(
    *, mailbox_ids: set[int] | None, report: dict, look: dict, doubts: dict, sees_dead_letters: bool
) -> list[Alert]:
    """Everything wrong now in the mailboxes `mailbox_ids` (None: all), the worst first: nothing can
    be processed at all, then a mailbox that is not being read, then work that failed, then documents
    to check and deadlines. Empty means all is in order."""
    unreadable = _unreadable_mailboxes(mailbox_ids)
    found: list[Alert | None] = [
        *_processing_alerts(report),
        _unreadable_alert(unreadable),
        _failed_reads_alert(mailbox_ids, already_said={mailbox.pk for mailbox, _reason in unreadable}),
        _dead_letters_alert(mailbox_ids, sees_dead_letters),
        _counted(
            "quarantined",
            look["quarantined_count"],
            ngettext(
                "%(count)d message could not be saved and waits in quarantine",
                "%(count)d messages could not be saved and wait in quarantine",
                look["quarantined_count"],
            ),
            f"{reverse('admin:inbox_mailmessage_changelist')}?status__exact={MailMessage.Status.QUARANTINED}",
        ),
        _counted(
            "documents-conflict",
            doubts["conflict_count"],
            ngettext(
                "%(counter)s document arrived in copies that do not match",
                "%(counter)s documents arrived in copies that do not match",
                doubts["conflict_count"],
            ),
            doubts["conflict_url"],
        ),
        _counted(
            "documents-ted-failing",
            doubts["ted_failing_count"],
            ngettext(
                "%(counter)s document whose electronic stamp does not verify",
                "%(counter)s documents whose electronic stamp does not verify",
                doubts["ted_failing_count"],
            ),
            doubts["ted_failing_url"],
        ),
        *deadline_alerts(mailbox_ids),
        _counted(
            "previews-failed",
            look["failed_preview_count"],
            ngettext(
                "%(count)d preview could not be made",
                "%(count)d previews could not be made",
                look["failed_preview_count"],
            ),
            f"{reverse('admin:inbox_attachment_changelist')}?preview_status__exact={Attachment.PreviewStatus.FAILED}",
        ),
    ]
    return [alert for alert in found if alert is not None]


def _counted(key: str, count: int, text: str, url: str | None) -> Alert | None:
    return Alert(key, text % {"count": count, "counter": count}, url) if count else None


def _processing_alerts(report: dict) -> list[Alert | None]:
    """The queue service, the schedule's clock and the background processes (health.py's report)."""
    if "scheduler" not in report:
        return [Alert("queue-unreachable", _("The work queue cannot be reached: no mail is read or processed."), None)]
    scheduler, workers = report["scheduler"], report.get("workers", [])
    clock: Alert | None = None
    if scheduler["last_tick"] is None and not scheduler["heartbeat"]:
        clock = Alert(
            "clock-stale", _("No scheduled reading has taken place yet: no mailbox is read on its own."), "#clock"
        )
    elif scheduler["missed_slots"] is not None and scheduler["missed_slots"] >= MISSED_SLOTS_LIMIT:
        last = formats.date_format(
            timezone.localtime(dt.datetime.fromisoformat(scheduler["last_tick"])), "DATETIME_FORMAT"
        )
        clock = Alert(
            "clock-stale",
            _("The schedule has stopped: the last scheduled mailbox read was on %(when)s.") % {"when": last},
            "#clock",
        )
    stuck = sum(1 for worker in workers if worker["stuck"])
    processing: Alert | None = None
    if not workers:
        processing = Alert(
            "processing-stopped",
            _("Nothing is processing the work in the queue: no background process answers."),
            "#clock",
        )
    elif stuck:
        processing = Alert(
            "processing-stuck",
            ngettext(
                "%(count)d background process is stuck on its work",
                "%(count)d background processes are stuck on their work",
                stuck,
            )
            % {"count": stuck},
            "#clock",
        )
    return [clock, processing]


def _unreadable_mailboxes(mailbox_ids: set[int] | None) -> list[tuple[Mailbox, str]]:
    """Active mailboxes whose source is misconfigured now, or whose latest read failed, and why."""
    from .mailbox_checks import mailbox_source_problems

    latest = FetchRun.objects.filter(mailbox=OuterRef("pk")).order_by("-created_at")
    mailboxes = limit_to_mailboxes(Mailbox.objects.filter(active=True), mailbox_ids, mailbox_field="pk").annotate(
        last_status=Subquery(latest.values("status")[:1]), last_error=Subquery(latest.values("error")[:1])
    )
    unreadable: list[tuple[Mailbox, str]] = []
    for mailbox in mailboxes:
        problems = mailbox_source_problems(mailbox)
        if problems:
            unreadable.append((mailbox, problems[0]))
        elif mailbox.last_status == FetchRun.Status.FAILED:
            error = mailbox.last_error or ""
            unreadable.append((mailbox, _("its last reading failed: %(error)s") % {"error": error}))
    return unreadable


def _unreadable_alert(unreadable: list[tuple[Mailbox, str]]) -> Alert | None:
    if not unreadable:
        return None
    if len(unreadable) == 1:
        mailbox, reason = unreadable[0]
        return Alert(
            "mailbox-unreadable",
            _("The mailbox %(mailbox)s cannot be read: %(reason)s")
            % {"mailbox": mailbox.name, "reason": Truncator(reason).chars(REASON_LENGTH)},
            reverse("admin:inbox_mailbox_change", args=[mailbox.pk]),
        )
    ids = ",".join(str(mailbox.pk) for mailbox, _reason in unreadable)
    return Alert(
        "mailbox-unreadable",
        ngettext("%(count)d mailbox cannot be read", "%(count)d mailboxes cannot be read", len(unreadable))
        % {"count": len(unreadable)},
        f"{reverse('admin:inbox_mailbox_changelist')}?id__in={ids}",
    )


def _failed_reads_alert(mailbox_ids: set[int] | None, *, already_said: set[int]) -> Alert | None:
    """Readings that failed or had errors lately, of mailboxes not already said to be unreadable."""
    since = timezone.now() - FAILED_READS_WINDOW
    failing = (FetchRun.Status.FAILED, FetchRun.Status.COMPLETED_WITH_ERRORS)
    recent = FetchRun.objects.filter(status__in=failing, created_at__gte=since).exclude(mailbox_id__in=already_said)
    count = limit_to_mailboxes(recent, mailbox_ids, mailbox_field="mailbox_id").count()
    query = urlencode({"status__in": ",".join(failing), "created_at__gte": since.isoformat(timespec="seconds")})
    return _counted(
        "reads-failed",
        count,
        ngettext(
            "%(count)d mailbox reading failed or had errors in the last 24 hours",
            "%(count)d mailbox readings failed or had errors in the last 24 hours",
            count,
        ),
        f"{reverse('admin:inbox_fetchrun_changelist')}?{query}",
    )


def _dead_letters_alert(mailbox_ids: set[int] | None, sees_dead_letters: bool) -> Alert | None:
    from .dead_letters import dead_letters_visible

    try:
        count = len(dead_letters_visible(mailbox_ids=mailbox_ids))
    except Exception:  # the queue service is down: _processing_alerts says so
        return None
    return _counted(
        "dead-letters",
        count,
        ngettext(
            "%(count)d task was given up after its retries (dead letter)",
            "%(count)d tasks were given up after their retries (dead letters)",
            count,
        ),
        reverse("admin:inbox_dead_letters") if sees_dead_letters else None,
    )


def deadline_alerts(mailbox_ids: set[int] | None) -> list[Alert | None]:
    """Facturas to accept or claim within 2 days, and those past their deadline (Ley 19.983).

    The hook for webapp/documents/services/claims.py: `claims_summary(mailbox_ids)` answers
    {"due_soon_count", "due_soon_url", "overdue_count", "overdue_url"}; until it is there, nothing.
    """
    try:
        from webapp.documents.services.claims import claims_summary  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    summary = claims_summary(mailbox_ids)
    due, overdue = summary["due_soon_count"], summary["overdue_count"]
    return [
        _counted(
            "claims-due-soon",
            due,
            ngettext(
                "%(count)d factura must be accepted or claimed within 2 days",
                "%(count)d facturas must be accepted or claimed within 2 days",
                due,
            ),
            summary["due_soon_url"],
        ),
        _counted(
            "claims-overdue",
            overdue,
            ngettext(
                "%(count)d factura is past its deadline to accept or claim",
                "%(count)d facturas are past their deadline to accept or claim",
                overdue,
            ),
            summary["overdue_url"],
        ),
    ]
