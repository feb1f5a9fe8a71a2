import dramatiq

from pipeline.config import RENDER_QUEUE
from webapp.inbox.models import Attachment
from webapp.inbox.services.previews import attachment_render_preview

from .policy import MINUTE, PERMANENT_ERRORS, SECOND


@dramatiq.actor(queue_name=RENDER_QUEUE, time_limit=2 * MINUTE, max_retries=2,
                min_backoff=10 * SECOND, max_backoff=2 * MINUTE, throws=PERMANENT_ERRORS)
def render_attachment(attachment_id: int) -> None:
    """Make the preview of one stored attachment."""
    attachment = Attachment.objects.select_related("blob").get(pk=attachment_id)
    attachment_render_preview(attachment=attachment)
