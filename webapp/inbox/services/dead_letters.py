"""The queues' dead letters: sending one again from the admin."""

from __future__ import annotations

from pipeline import locks, queues


def dead_letter_resend(*, queue: str, message_id: str) -> bool:
    """Send the dead letter `message_id` of `queue` again (pipeline.queues.dead_letter_resend).

    True when it was found; ValueError for an unknown queue.
    """
    from pipeline.actors import broker  # importing the actors sets up the broker: keep it lazy

    return queues.dead_letter_resend(locks.shared_client(), broker, queue=queue, message_id=message_id)
