import dramatiq

from pipeline import logs
from pipeline.config import RENDER_QUEUE
from webapp.documents.services.documents import is_xml_attachment, xml_attachment_process
from webapp.inbox.services.previews import (
    attachment_begin_render,
    attachment_end_render,
    attachment_finish_render,
    attachment_preview_failed,
    attachment_render_preview,
)

from .policy import MINUTE, PERMANENT_ERRORS, SECOND, failure_settle, is_last_attempt


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
        if is_xml_attachment(attachment):
            xml_attachment_process(attachment=attachment, last_attempt=is_last_attempt())
        else:
            attachment_render_preview(attachment=attachment)
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
