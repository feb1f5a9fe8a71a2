"""The floor: the same work as the pipeline, in one process, no queue: `python -m bench.floor INBOX`.

The services the actors call, called directly in a loop: list the folder, record each
message, save it, then the render actor's body (`.fn`, no queue) for each attachment. Prints one JSON line: mails and seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time


def work(inbox: str, *, name: str = "floor") -> int:
    """The floor's work on the mails in `inbox`, as a mailbox of its own; how many mails were processed."""
    from pipeline.actors import render_attachment
    from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailMessage
    from webapp.inbox.services.messages import message_begin_delivery, message_save
    from webapp.inbox.services.runs import fetch_run_create, fetch_run_execute

    mailbox = Mailbox.objects.create(name=name, settings={"path": inbox})

    def save_and_render(message_id: int) -> None:
        message = message_begin_delivery(message_id=message_id)
        outcome = message_save(message=message)
        for attachment_id in outcome.to_render + outcome.render_now:
            render_attachment.fn(attachment_id)  # the actor's own body, called without the queue

    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    fetch_run_execute(run=run, on_new_message=save_and_render)
    mails = MailMessage.objects.filter(mailbox=mailbox, status=MailMessage.Status.PROCESSED).count()
    assert not Attachment.objects.filter(
        message__mailbox=mailbox, preview_status=Attachment.PreviewStatus.PENDING
    ).exists()
    return mails


def main(inbox: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    started = time.perf_counter()
    mails = work(inbox)
    seconds = time.perf_counter() - started
    print(json.dumps({"mails": mails, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1])
