"""The queues' dead letters, as far as a user may see them: listing them, and sending one again.

A dead letter carries only an actor's name and the id it was given. Its mailbox is that row's:
a user limited to some mailboxes sees (and may send again) only the letters of those mailboxes;
a letter of no mailbox (a tick) or of an actor not named here is for users who see them all.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from pipeline import locks, queues

from ..models import Attachment, FetchRun, MailMessage
from .access import limit_to_mailboxes

#: Per actor: the model its id names, and the lookup from that model to the mailbox id.
LETTER_ROWS: dict[str, tuple[type[Model], str]] = {
    "fetch_mailbox": (FetchRun, "mailbox_id"),
    "save_message": (MailMessage, "mailbox_id"),
    "render_attachment": (Attachment, "message__mailbox_id"),
}


def dead_letters_visible(*, mailbox_ids: set[int] | None) -> list[dict[str, Any]]:
    """The dead letters of every queue (newest first) whose mailbox is in `mailbox_ids` (None: all)."""
    letters = queues.dead_letters(locks.shared_client())
    if mailbox_ids is None:
        return letters
    visible: list[dict[str, Any]] = []
    for actor_name, (model, mailbox_field) in LETTER_ROWS.items():
        mine = [letter for letter in letters if letter["actor_name"] == actor_name]
        ids = {row_id for letter in mine if (row_id := _row_id(letter)) is not None}
        rows = limit_to_mailboxes(model._default_manager.filter(pk__in=ids), mailbox_ids, mailbox_field=mailbox_field)
        seen = set(rows.values_list("pk", flat=True))
        visible.extend(letter for letter in mine if _row_id(letter) in seen)
    return sorted(visible, key=lambda letter: letter["failed_at_ms"], reverse=True)


def _row_id(letter: dict[str, Any]) -> int | None:
    """The id the actor was sent: its one argument, positional or by name."""
    values = [*letter.get("args", []), *letter.get("kwargs", {}).values()]
    if len(values) != 1 or isinstance(values[0], bool) or not isinstance(values[0], int):
        return None
    return values[0]


def dead_letter_resend(*, queue: str, message_id: str, mailbox_ids: set[int] | None) -> bool:
    """Send the dead letter `message_id` of `queue` again (pipeline.queues.dead_letter_resend).

    True when it was found among the letters of `mailbox_ids` (None: all); ValueError for an
    unknown queue. Another mailbox's letter is not found.
    """
    from pipeline.actors import broker  # importing the actors sets up the broker: keep it lazy

    if mailbox_ids is not None and not any(
        letter["queue"] == queue and letter["message_id"] == message_id
        for letter in dead_letters_visible(mailbox_ids=mailbox_ids)
    ):
        return False
    return queues.dead_letter_resend(locks.shared_client(), broker, queue=queue, message_id=message_id)
