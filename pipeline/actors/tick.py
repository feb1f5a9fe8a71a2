import logging

import dramatiq

from pipeline.config import DEFAULT_QUEUE
from webapp.inbox.models import FetchRun, Mailbox
from webapp.inbox.services.catchup import stale_work_claim
from webapp.inbox.services.runs import fetch_run_create

from .fetch import fetch_mailbox
from .policy import MINUTE, SECOND
from .render import render_attachment
from .save import save_message

logger = logging.getLogger(__name__)


@dramatiq.actor(
    queue_name=DEFAULT_QUEUE, time_limit=2 * MINUTE, max_retries=2, min_backoff=5 * SECOND, max_backoff=MINUTE
)
def tick() -> None:
    """Start a run for every active mailbox that has none, and send stale work again."""
    for mailbox in Mailbox.objects.filter(active=True):
        run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.SCHEDULE)
        if run is None:
            logger.info("mailbox %s still has a run in progress; no new run", mailbox)
            continue
        fetch_mailbox.send(run.pk)
    stale = stale_work_claim()
    for run_id in stale.runs:
        fetch_mailbox.send(run_id)
    for message_id in stale.messages:
        save_message.send(message_id)
    for attachment_id in stale.previews:
        render_attachment.send(attachment_id)
    if stale.runs or stale.messages or stale.previews:
        logger.warning(
            "sent stale work again: %d runs, %d messages, %d previews",
            len(stale.runs),
            len(stale.messages),
            len(stale.previews),
        )
