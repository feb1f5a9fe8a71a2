"""Who sees which mailbox: every admin list and every download goes through here.

Superusers and holders of `inbox.view_all_mailboxes` see every mailbox. Anyone else sees the
mailboxes granted to them, or to one of their groups, by a MailboxAccess row, and nothing
else: another mailbox's rows are not listed, and their ids answer 404.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from ..models import MailboxAccess

#: The permission that lifts the per-mailbox limit.
ALL_MAILBOXES_PERMISSION = "inbox.view_all_mailboxes"


def visible_mailbox_ids(user) -> set[int] | None:
    """None when `user` sees every mailbox, else the ids of the mailboxes they may see."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_superuser or user.has_perm(ALL_MAILBOXES_PERMISSION):
        return None
    cached = getattr(user, "_visible_mailbox_ids", None)
    if cached is None:
        cached = set(
            MailboxAccess.objects.filter(Q(user=user) | Q(group__in=user.groups.all())).values_list(
                "mailbox_id", flat=True
            )
        )
        user._visible_mailbox_ids = cached  # one query per request
    return cached


def limit_to_user(queryset: QuerySet, user, *, mailbox_field: str) -> QuerySet:
    """`queryset` narrowed to the rows of mailboxes `user` may see; `mailbox_field` is the lookup path
    to the mailbox id (e.g. "message__mailbox_id"), or "pk" for Mailbox itself."""
    return limit_to_mailboxes(queryset, visible_mailbox_ids(user), mailbox_field=mailbox_field)


def limit_to_mailboxes(queryset: QuerySet, mailbox_ids: set[int] | None, *, mailbox_field: str) -> QuerySet:
    """`queryset` narrowed to the rows of `mailbox_ids` (None: every mailbox), as limit_to_user."""
    if mailbox_ids is None:
        return queryset
    return queryset.filter(**{f"{mailbox_field}__in": mailbox_ids})
