import logging
import time

import dramatiq

from pipeline import logs
from pipeline.config import RENDER_QUEUE
from webapp.documents.services.documents import is_xml_attachment, xml_attachment_process
from webapp.inbox.models import Attachment
from webapp.inbox.services.previews import (
    attachment_begin_render,
    attachment_end_render,
    attachment_finish_render,
    attachment_preview_failed,
    attachment_render_preview,
)

from .policy import MINUTE, PERMANENT_ERRORS, SECOND, failure_settle, is_last_attempt

logger = logging.getLogger(__name__)


@dramatiq.actor(
    queue_name=RENDER_QUEUE,
    time_limit=2 * MINUTE,
    max_retries=2,
    min_backoff=10 * SECOND,
    max_backoff=2 * MINUTE,
    throws=PERMANENT_ERRORS,
)
def render_attachment(attachment_id: int) -> None:
    """Make the preview of one stored attachment: a PDF's thumbnail, or an XML's DTE Documents."""
    attachment = attachment_begin_render(attachment_id=attachment_id)
    if attachment is None:
        return
    logs.add_context(run_id=attachment.message.fetch_run_id, mailbox=attachment.message.mailbox.name)
    try:
        _render(attachment, last_attempt=is_last_attempt())
    except Exception as exc:
        if failure_settle(
            exc,
            give_up=lambda reason: attachment_preview_failed(attachment=attachment, error=reason),
            retry=lambda reason: attachment_end_render(attachment_id=attachment_id),
            release=lambda reason: attachment_end_render(attachment_id=attachment_id),
        ):
            raise
        return
    attachment_finish_render(attachment=attachment)


#: A save parses its XML itself for at most this long, checked before each file (a file's parse and any
#: drawing are each bounded by SANDBOX_WALL_SECONDS); the rest go to the render queue, well inside the
#: save's own time limit.
AT_ONCE_SECONDS = 60.0


def render_soon(attachment_ids: list[int]) -> None:
    """Render these now, one after the other, while AT_ONCE_SECONDS last; the rest go to the render queue."""
    until = time.monotonic() + AT_ONCE_SECONDS
    for attachment_id in attachment_ids:
        if time.monotonic() >= until:
            render_attachment.send(attachment_id)
            continue
        try:
            render_at_once(attachment_id)
        except Exception:  # its failure could not be recorded (the database away): the others still go on
            logger.warning(
                "the preview of attachment %s failed and could not be recorded; sent to the render queue",
                attachment_id,
                exc_info=True,
            )
            render_attachment.send(attachment_id)  # refused while its row still says running: then the catch-up


def render_at_once(attachment_id: int) -> None:
    """The render actor's work, done now by the caller (the save actor, for a small XML) instead of queued.

    What can never succeed is recorded as the actor records it; any other failure sends the
    attachment to the render queue, which retries it under its own policy.
    """
    try:
        attachment = attachment_begin_render(attachment_id=attachment_id)
    except Exception:  # the database is away for a moment: the queue tries again later
        logger.warning("could not start the preview of attachment %s now; sent to the render queue", attachment_id)
        render_attachment.send(attachment_id)
        return
    if attachment is None:
        return
    try:
        _render(attachment, last_attempt=False)
    except Exception as exc:
        if failure_settle(
            exc,
            give_up=lambda reason: attachment_preview_failed(attachment=attachment, error=reason),
            retry=lambda reason: attachment_end_render(attachment_id=attachment_id),
            last_attempt_gives_up=False,
        ):
            render_attachment.send(attachment_id)
        return
    attachment_finish_render(attachment=attachment)


def _render(attachment: Attachment, *, last_attempt: bool) -> None:
    if is_xml_attachment(attachment):
        xml_attachment_process(attachment=attachment, last_attempt=last_attempt)
    else:
        attachment_render_preview(attachment=attachment)
