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
    names = visible_mailbox_names(user)
    return None if names is None else set(names)


def visible_mailbox_names(user) -> dict[int, str] | None:
    """None when `user` sees every mailbox, else the names of the mailboxes they may see, by id.

    Read once per request (cached on the user), ids and names in one query: the lists' scope and their
    filter by mailbox both come from it."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    if user.is_superuser or user.has_perm(ALL_MAILBOXES_PERMISSION):
        return None
    cached = getattr(user, "_visible_mailboxes", None)
    if cached is None:
        rows = MailboxAccess.objects.filter(Q(user=user) | Q(group__in=user.groups.all())).values_list(
            "mailbox_id", "mailbox__name"
        )
        cached = dict(rows)
        user._visible_mailboxes = cached  # one query per request
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


def grantable_users(user) -> QuerySet:
    """Accounts `user` may pick when granting one of their mailboxes: those who already share one of
    them, or who see no mailbox yet. Who works on another mailbox, or sees them all, stays unnamed."""
    from django.contrib.auth import get_user_model

    accounts = get_user_model().objects.filter(is_active=True)
    mailbox_ids = visible_mailbox_ids(user)
    if mailbox_ids is None:
        return accounts
    sees_all = (
        Q(is_superuser=True)
        | Q(user_permissions__codename=_ALL_CODENAME)
        | Q(groups__permissions__codename=_ALL_CODENAME)
    )
    elsewhere = MailboxAccess.objects.exclude(mailbox_id__in=mailbox_ids)
    return (
        accounts.exclude(sees_all)
        .exclude(pk__in=elsewhere.filter(user__isnull=False).values("user_id"))
        .exclude(groups__in=elsewhere.filter(group__isnull=False).values("group_id"))
        .distinct()
    )


def grantable_groups(user) -> QuerySet:
    """Groups `user` may pick when granting one of their mailboxes, as grantable_users."""
    from django.contrib.auth.models import Group

    mailbox_ids = visible_mailbox_ids(user)
    if mailbox_ids is None:
        return Group.objects.all()
    elsewhere = MailboxAccess.objects.exclude(mailbox_id__in=mailbox_ids).filter(group__isnull=False)
    return Group.objects.exclude(permissions__codename=_ALL_CODENAME).exclude(pk__in=elsewhere.values("group_id"))


_ALL_CODENAME = ALL_MAILBOXES_PERMISSION.split(".", 1)[1]
