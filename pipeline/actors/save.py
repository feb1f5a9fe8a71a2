import dramatiq

from pipeline import logs
from pipeline.config import DEFAULT_QUEUE
from webapp.inbox.models import MailMessage
from webapp.inbox.services.messages import (
    message_begin_delivery,
    message_end_delivery,
    message_quarantine,
    message_record_error,
    message_release_delivery,
    message_save,
)

from .policy import MINUTE, PERMANENT_ERRORS, SECOND, failure_settle
from .render import render_attachment, render_soon


@dramatiq.actor(
    queue_name=DEFAULT_QUEUE,
    time_limit=30 * MINUTE,
    max_retries=3,
    min_backoff=15 * SECOND,
    max_backoff=10 * MINUTE,
    throws=PERMANENT_ERRORS,
)
def save_message(message_id: int) -> None:
    """Store every attachment of one message, settle it at the source, then see to its previews."""
    message = message_begin_delivery(message_id=message_id)
    if message is None:
        return
    logs.add_context(run_id=message.fetch_run_id, mailbox_id=message.mailbox_id)  # no query: the database may be away
    try:
        outcome = message_save(message=message)
    except Exception as exc:
        if failure_settle(
            exc,
            give_up=lambda reason: _give_up(message, reason),
            retry=lambda reason: message_record_error(message_id=message_id, error=reason),
            release=lambda reason: message_release_delivery(message_id=message_id, error=reason),
            last_attempt_gives_up=False,  # the catch-up sends it again, up to PIPELINE_MAX_DELIVERIES
        ):
            raise
        return
    message_end_delivery(message_id=message_id)
    for attachment_id in outcome.to_render:
        render_attachment.send(attachment_id)
    render_soon(outcome.render_now)


def _give_up(message: MailMessage, reason: str) -> None:
    """Quarantined with the reason; a message stored already, whose settling failed, keeps it as its error."""
    if message_quarantine(message=message, reason=reason):
        message_end_delivery(message_id=message.pk)
    else:
        message_record_error(message_id=message.pk, error=reason)
