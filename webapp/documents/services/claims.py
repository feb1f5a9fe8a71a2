"""The claim deadline of Ley 19.983: a receiver accepts a factura or claims against it within CLAIM_DAYS
of the SII's reception, or it counts as accepted (tacitly).

The deadline runs from the SII's reception (Document.sii_received_at, from the purchase register) when
it is known; until then it is estimated from when the earliest copy's mail arrived, and says so. A
decision is appended to the document's audit history (DocumentDecision) and kept on the document as
its latest. A decision after the deadline is recorded (it may be that the deadline was only estimated,
or that the accountant records what was done at the SII): it is marked late where it is shown.
Nothing here is sent to the SII.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Case, CharField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from pipeline.dte.kinds import CLAIM_DAYS, codes, kind_of
from webapp.inbox.models import Mailbox, MailMessage
from webapp.inbox.services.access import visible_mailbox_ids

from ..models import ACCEPTING_DECISIONS, ClaimState, DecisionCode, Document, DocumentDecision

#: The permission that records decisions (on the documents of the user's mailboxes only).
DECIDE_PERMISSION = "documents.decide_document"
#: Deciding on a document is done on its page: who may not view it may not decide on it.
_VIEW_PERMISSION = "documents.view_document"
#: "Vence en 2 días o menos": a deadline on today's date or one of the next DUE_SOON_DAYS (local dates).
DUE_SOON_DAYS = 2
CLAIM_PERIOD = dt.timedelta(days=CLAIM_DAYS)
CLAIMABLE_TYPES = tuple(codes(claimable=True))
#: A mail's Date header is the sender's word: believed only within this of its reading (clocks differ).
_CLOCK_SKEW = dt.timedelta(days=1)

_ACCEPTING = [str(code) for code in ACCEPTING_DECISIONS]
_CLAIMING = [code for code in DecisionCode.values if code not in _ACCEPTING]


def is_claimable(document: Document) -> bool:
    return kind_of(document.doc_type).claimable


def _deadline_from(start: dt.datetime) -> dt.datetime | None:
    try:
        return start + CLAIM_PERIOD  # an instant: 8 x 24 h, whatever the clocks do in between
    except OverflowError:
        return None


def _mail_arrival(document: Document, only_mail: MailMessage | None = None) -> dt.datetime | None:
    """When the earliest copy's mail arrived, as far as it can be believed (_believed_arrival).

    `only_mail`: the mail of the document's only copy, known to the caller (no look-up).
    """
    if only_mail is not None:
        return _believed_arrival(only_mail.received_at, only_mail.created_at, only_mail.mailbox.kind)
    messages = MailMessage.objects.filter(attachments__document_sources__document_id=document.pk).values_list(
        "received_at", "created_at", "mailbox__kind"
    )
    return min((_believed_arrival(*message) for message in messages), default=None)


def _believed_arrival(received: dt.datetime | None, read: dt.datetime, kind: str) -> dt.datetime:
    """A mail's arrival: Microsoft 365 stamps it on its server (receivedDateTime), a folder's mail has only the
    sender's Date header. A Date far in the past would make a factura look tacitly accepted the moment it is
    read, so a sender's Date is believed near the reading only; a stamp in the future of the reading never."""
    if received is None or received > read + _CLOCK_SKEW:
        return read
    if kind != Mailbox.Kind.GRAPH and received < read - _CLOCK_SKEW:
        return read
    return received


def sii_reception_of(document: Document) -> dt.datetime | None:
    """The SII's reception of `document` in the purchase register: its mailbox's import, else an operator's."""
    from webapp.register.models import RcvEntry

    entries = RcvEntry.objects.filter(
        Q(mailbox_id=document.mailbox_id) | Q(mailbox__isnull=True),
        receiver_rut=document.receiver_rut,
        issuer_rut=document.issuer_rut,
        doc_type=document.doc_type,
        folio=document.folio,
        received_at__isnull=False,
    ).order_by(Coalesce("mailbox_id", Value(0)).desc())
    return entries.values_list("received_at", flat=True).first()


def claim_deadline_values(document: Document, *, only_mail: MailMessage | None = None) -> dict[str, Any]:
    """`document`'s claim deadline fields as they should be (claim_deadline_set's); `document` may be unsaved.

    `only_mail`: the mail of its only copy, when the caller has just recorded that copy (or is about to).
    """
    values: dict[str, Any] = {"claim_deadline": None, "claim_deadline_estimated": False}
    if is_claimable(document):
        received = document.sii_received_at or sii_reception_of(document)
        values["sii_received_at"] = received
        if received is not None:
            values["claim_deadline"] = _deadline_from(received)
        elif (arrival := _mail_arrival(document, only_mail)) is not None:
            values.update(claim_deadline=_deadline_from(arrival), claim_deadline_estimated=True)
    return values


def claim_deadline_set(document: Document, *, only_mail: MailMessage | None = None) -> dt.datetime | None:
    """Work out and store `document`'s claim deadline (None for a type that is not claimed); returns it.

    `only_mail`: the mail of its only copy, when the caller has just recorded that copy.
    """
    values = claim_deadline_values(document, only_mail=only_mail)
    changed = {name: value for name, value in values.items() if getattr(document, name) != value}
    if changed:
        Document.objects.filter(pk=document.pk).update(**changed)
        for name, value in changed.items():
            setattr(document, name, value)
    return document.claim_deadline


def sii_receptions_record(
    *, mailbox_id: int | None, receiver_rut: str, receptions: dict[tuple[str, int, int], dt.datetime]
) -> int:
    """Set the SII's reception, by (issuer RUT, type, folio), on the claimable documents of `receiver_rut` in
    `mailbox_id` (None: every mailbox) and their deadlines from it, in two statements; returns how many changed."""
    wanted = {key: at for key, at in receptions.items() if key[1] in CLAIMABLE_TYPES}
    if not wanted:
        return 0
    documents = Document.objects.filter(
        receiver_rut=receiver_rut, country="CL", doc_type__in=CLAIMABLE_TYPES, folio__in={key[2] for key in wanted}
    )
    if mailbox_id is not None:
        documents = documents.filter(mailbox_id=mailbox_id)
    rows = documents.order_by().values_list(
        "pk", "issuer_rut", "doc_type", "folio", "sii_received_at", "claim_deadline"
    )
    changes = []
    for pk, issuer_rut, doc_type, folio, received, deadline in rows:
        at = wanted.get((issuer_rut, doc_type, folio))
        if at is None:
            continue
        new_deadline = _deadline_from(at)
        if received != at or deadline != new_deadline:
            changes.append((pk, at, new_deadline))
    if changes:
        _update_receptions(changes)
    return len(changes)


def _update_receptions(changes: list[tuple[int, dt.datetime, dt.datetime | None]]) -> None:
    """One prepared statement for every row (executemany): the ORM's bulk_update builds a CASE per row."""
    table = connection.ops.quote_name(Document._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"UPDATE {table} SET sii_received_at = %s, claim_deadline = %s, claim_deadline_estimated = %s WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[adapt(at), adapt(deadline), False, pk] for pk, at, deadline in changes])


def claim_state(document: Document, now: dt.datetime | None = None) -> ClaimState | None:
    """Where `document` stands: its latest decision, else its deadline; None for a type that is not claimed."""
    if document.claim_decision:
        return ClaimState.ACCEPTED if document.claim_decision in _ACCEPTING else ClaimState.CLAIMED
    if document.claim_deadline is None:
        return None
    now = now or timezone.now()
    return ClaimState.TACITLY_ACCEPTED if document.claim_deadline < now else ClaimState.PENDING


def claim_state_q(state: str, now: dt.datetime) -> Q:
    """The documents in `state` at `now`, as a filter (no query per row)."""
    undecided = Q(claim_decision="", claim_deadline__isnull=False)
    conditions = {
        ClaimState.ACCEPTED: Q(claim_decision__in=_ACCEPTING),
        ClaimState.CLAIMED: Q(claim_decision__in=_CLAIMING),
        ClaimState.PENDING: undecided & Q(claim_deadline__gte=now),
        ClaimState.TACITLY_ACCEPTED: undecided & Q(claim_deadline__lt=now),
    }
    return conditions[ClaimState(state)]


def due_soon_q(now: dt.datetime) -> Q:
    """Pending documents whose deadline falls today or in the next DUE_SOON_DAYS days (local dates)."""
    today = timezone.localdate(now)
    end = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=DUE_SOON_DAYS + 1), dt.time()))
    return claim_state_q(ClaimState.PENDING, now) & Q(claim_deadline__lt=end)


def with_claim_state(queryset: QuerySet[Document], now: dt.datetime) -> QuerySet[Document]:
    """`queryset` with each row's `claim_state` (a ClaimState value, or None for a type not claimed)."""
    return queryset.annotate(
        claim_state=Case(
            *(When(claim_state_q(state, now), then=Value(state.value)) for state in ClaimState),
            default=Value(None),
            output_field=CharField(),
        )
    )


def days_left(document: Document, now: dt.datetime | None = None) -> int | None:
    """Calendar days (local dates) from today to the deadline: 0 today, negative once passed; None without one."""
    if document.claim_deadline is None:
        return None
    now = now or timezone.now()
    return (timezone.localdate(document.claim_deadline) - timezone.localdate(now)).days


def decided_late(decision: DocumentDecision, document: Document) -> bool:
    return document.claim_deadline is not None and decision.decided_at > document.claim_deadline


def may_decide(user: Any, document: Document) -> bool:
    """Holders of the permission who may view documents, on documents of their own mailboxes."""
    if not (user.has_perm(DECIDE_PERMISSION) and user.has_perm(_VIEW_PERMISSION)):
        return False
    mailbox_ids = visible_mailbox_ids(user)
    return mailbox_ids is None or document.mailbox_id in mailbox_ids


def decision_record(
    document: Document, code: str, reason: str, user: Any, *, now: dt.datetime | None = None
) -> DocumentDecision:
    """Append a decision to `document`'s history and make it its latest; a claim needs a reason."""
    if not may_decide(user, document):
        raise PermissionDenied
    if not is_claimable(document):
        raise ValidationError(_("Only facturas are accepted or claimed against."), code="not_claimable")
    if code not in DecisionCode.values:
        raise ValidationError(_("Unknown decision code: %(code)s.") % {"code": code}, code="unknown_code")
    reason = reason.strip()
    if code in _CLAIMING and not reason:
        raise ValidationError(_("A claim needs its reason."), code="reason_required")
    with transaction.atomic():
        decision = DocumentDecision.objects.create(
            document=document, code=code, reason=reason, decided_by=user, decided_at=now or timezone.now()
        )
        Document.objects.filter(pk=document.pk).update(claim_decision=code)
    document.claim_decision = code
    return decision


def claims_summary(mailbox_ids: Iterable[int] | None) -> dict[str, Any]:
    """For the dashboard: the facturas of `mailbox_ids` (None: all) due in DUE_SOON_DAYS days or less, and
    those whose deadline passed without a decision (tacitly accepted), counted and linked to their lists."""
    from django.db.models import Count

    now = timezone.now()
    documents = Document.objects.order_by()
    if mailbox_ids is not None:
        documents = documents.filter(mailbox_id__in=list(mailbox_ids))
    counts = documents.aggregate(
        due_soon=Count("pk", filter=due_soon_q(now)),
        overdue=Count("pk", filter=claim_state_q(ClaimState.TACITLY_ACCEPTED, now)),
    )
    listing = reverse("admin:documents_document_changelist")
    return {
        "due_soon_count": counts["due_soon"],
        "due_soon_url": f"{listing}?deadline=soon",
        "overdue_count": counts["overdue"],
        "overdue_url": f"{listing}?deadline=overdue",
    }
