"""Documents as a user limited to some mailboxes may have them.

A Document is its mailbox's: its fields, copies, references and files all come from that mailbox's
mail (services/documents.py), so a user sees the Documents of the mailboxes they may see, whole.
"""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Document


def documents_of_mailboxes(queryset: QuerySet[Document], mailbox_ids: set[int] | None) -> QuerySet[Document]:
    """The documents of `queryset` received by a mailbox of `mailbox_ids` (None: all)."""
    if mailbox_ids is None:
        return queryset
    return queryset.filter(mailbox_id__in=mailbox_ids)
