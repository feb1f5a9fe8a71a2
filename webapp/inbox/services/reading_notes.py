"""What a save records on a message besides its attachments: what the reader found wrong, and what a limit left out."""

from __future__ import annotations

from pipeline import config, containers


def reading_notes(notes: list[str], *, attachments: int) -> str:
    """The message's error text: each note once; a message that yielded no attachment says so first."""
    if not notes:
        return ""
    found = "No attachment found; the message has problems that may hide some: " if not attachments else ""
    return (found + "; ".join(dict.fromkeys(notes)))[:5000]


def members_budget(*, room: int) -> containers.Budget:
    """What the mail's containers may still give, within the attachments one message keeps."""
    if room >= containers.MAX_MEMBERS:
        return containers.Budget()
    return containers.Budget(
        members_left=room,
        members_limit=f"the message has {config.MAX_ATTACHMENTS_PER_MESSAGE} attachments already, the most kept",
    )


def limit_notes(*, found: int, kept: int, budget: containers.Budget) -> list[str]:
    """The attachments MAX_ATTACHMENTS_PER_MESSAGE left out, or nothing when it left none out."""
    limit = config.MAX_ATTACHMENTS_PER_MESSAGE
    members = budget.members_refused if limit - kept < containers.MAX_MEMBERS else 0
    if found <= kept and not members:
        return []
    left_out = [f"{found - kept} of its {found} parts"] if found > kept else []
    left_out += [f"{members} files inside its containers"] if members else []
    return [f"only {limit} attachments are kept for one message: {' and '.join(left_out)} were not stored"]
