"""One run of a mailbox through the actors' own code, in this process and in order.

For tests that want the pipeline's full effect on some input without a worker process:
listing, saving and rendering call exactly what `fetch_mailbox`, `save_message` and
`render_attachment` call (the render step is the actor's own function body).
"""

from __future__ import annotations

from webapp.inbox.models import FetchRun, Mailbox
from webapp.inbox.services.messages import message_begin_delivery, message_save
from webapp.inbox.services.runs import fetch_run_create, fetch_run_execute


def process_mailbox(mailbox: Mailbox) -> FetchRun:
    from pipeline.actors import render_attachment

    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    new: list[int] = []
    fetch_run_execute(run=run, on_new_message=new.append)
    for message_id in new:
        message = message_begin_delivery(message_id=message_id)
        if message is None:
            continue
        for attachment_id in message_save(message=message).to_render:
            render_attachment.fn(attachment_id)
    run.refresh_from_db()
    return run
