import contextlib

import dramatiq
from redis.exceptions import LockError

from pipeline import locks, logs
from pipeline.config import DEFAULT_QUEUE
from pipeline.sources.base import SourceError
from webapp.inbox.models import FetchRun
from webapp.inbox.services.runs import fetch_run_execute, fetch_run_fail, fetch_run_skip

from .policy import MINUTE, PERMANENT_ERRORS, SECOND, failure_settle, without_paths
from .save import save_message

#: Listing a mailbox must end well within this; the mailbox lock outlives it by a minute.
FETCH_TIME_LIMIT = 15 * MINUTE


@dramatiq.actor(
    queue_name=DEFAULT_QUEUE,
    time_limit=FETCH_TIME_LIMIT,
    max_retries=3,
    min_backoff=10 * SECOND,
    max_backoff=5 * MINUTE,
    throws=PERMANENT_ERRORS,
)
def fetch_mailbox(run_id: int) -> None:
    """List one mailbox for one run and send every new message to be saved."""
    run = FetchRun.objects.select_related("mailbox").get(pk=run_id)
    logs.add_context(mailbox=run.mailbox.name)
    if run.status not in FetchRun.ACTIVE_STATUSES or run.listed_at is not None:
        return
    lock = locks.mailbox_lock(locks.shared_client(), run.mailbox_id, timeout_seconds=FETCH_TIME_LIMIT // 1000 + 60)
    if not lock.acquire():
        fetch_run_skip(run=run, reason="another run for this mailbox was in progress")
        return
    try:
        fetch_run_execute(run=run, on_new_message=save_message.send)
    except SourceError as exc:
        # The source client already retried with backoff; the run ends here, readable in the
        # admin, and the next tick starts a new one.
        fetch_run_fail(run=run, error=f"source unavailable: {without_paths(str(exc))}")
    except Exception as exc:
        if failure_settle(
            exc,
            give_up=lambda reason: fetch_run_fail(run=run, error=reason),
            retry=lambda reason: FetchRun.objects.filter(pk=run.pk).update(error=f"will retry after {reason}"),
        ):
            raise
    finally:
        with contextlib.suppress(LockError):
            lock.release()
