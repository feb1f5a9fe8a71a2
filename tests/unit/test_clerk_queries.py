"""A clerk's page reads their permissions in one query and their mailboxes (ids and names) in one: the
Document list costs a clerk one query more than a superuser (whose mailbox filter reads the mailboxes
apart, the clerk's comes with the scope)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.unit.test_query_counts import MANY, add_rows
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox, MailboxAccess
from webapp.inbox.services.access import visible_mailbox_ids, visible_mailbox_names

pytestmark = pytest.mark.django_db


def _queries(client: Client, url: str, query: dict | None = None) -> int:
    client.get(url, query or {})  # caches filled
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, query or {})
    assert response.status_code == 200
    return len(captured)


@pytest.fixture
def clerk_in_two_mailboxes() -> tuple[User, list[Mailbox]]:
    """Staff who may view documents, granted `zeta` directly and `alfa` through a group; `otro` is not theirs."""
    add_rows(MANY)
    zeta, alfa, _otro = (Mailbox.objects.create(name=name) for name in ("zeta", "alfa", "otro"))
    for n, mailbox in enumerate(Mailbox.objects.filter(name__in=["zeta", "alfa", "otro"])):
        Document.objects.create(
            mailbox=mailbox, doc_type=33, folio=900 + n, issue_date=dt.date(2026, 3, 1), issuer_rut="76086428-5"
        )
    user = User.objects.create_user("clerk2", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_document"))
    team = Group.objects.create(name="contadores")
    team.permissions.add(Permission.objects.get(codename="view_mailbox"))
    user.groups.add(team)
    MailboxAccess.objects.create(mailbox=zeta, user=user)
    MailboxAccess.objects.create(mailbox=alfa, group=team)
    MailboxAccess.objects.create(mailbox=zeta, group=team)  # twice, by both ways: listed once
    return User.objects.get(pk=user.pk), [alfa, zeta]


def test_a_clerks_permissions_are_theirs_and_their_groups_read_in_one_query(
    clerk_in_two_mailboxes, django_assert_num_queries
):
    user, _mailboxes = clerk_in_two_mailboxes
    with django_assert_num_queries(1):
        assert user.has_perm("documents.view_document") and user.has_perm("inbox.view_mailbox")
        assert not user.has_perm("documents.change_document")
        assert user.get_all_permissions() == {"documents.view_document", "inbox.view_mailbox"}
    fresh = User.objects.get(pk=user.pk)
    assert fresh.get_user_permissions() == {"documents.view_document"}
    assert fresh.get_group_permissions() == {"inbox.view_mailbox"}


def test_a_clerks_mailboxes_are_read_once_with_their_names(clerk_in_two_mailboxes, django_assert_num_queries):
    user, (alfa, zeta) = clerk_in_two_mailboxes
    user.has_perm("inbox.view_all_mailboxes")  # the permissions are read apart
    with django_assert_num_queries(1):
        assert visible_mailbox_names(user) == {alfa.pk: "alfa", zeta.pk: "zeta"}
        assert visible_mailbox_ids(user) == {alfa.pk, zeta.pk}


def test_the_document_list_costs_a_clerk_one_query_more_than_a_superuser(admin_client, clerk_in_two_mailboxes):
    user, (alfa, zeta) = clerk_in_two_mailboxes
    clerk = Client()
    clerk.force_login(user)
    url = reverse("admin:documents_document_changelist")
    page = clerk.get(url)
    assert {document.mailbox_id for document in page.context["cl"].result_list} == {alfa.pk, zeta.pk}
    mailbox_filter = next(spec for spec in page.context["cl"].filter_specs if spec.title == "mailbox")
    assert mailbox_filter.lookup_choices == [(str(alfa.pk), "alfa"), (str(zeta.pk), "zeta")]  # by name, theirs only
    assert _queries(clerk, url) == _queries(admin_client, url) + 1 <= 10
    filtered = {"mailbox__id__exact": zeta.pk}
    assert [d.mailbox_id for d in clerk.get(url, filtered).context["cl"].result_list] == [zeta.pk]


def test_a_session_opened_before_the_one_query_backend_stays_logged_in(clerk_in_two_mailboxes):
    """Sessions name the backend that logged them in: one from before the deploy still opens the list,
    at the same cost as a new one."""
    user, _mailboxes = clerk_in_two_mailboxes
    url = reverse("admin:documents_document_changelist")
    old, new = Client(), Client()
    old.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    new.force_login(user, backend="webapp.permissions.OneQueryModelBackend")
    assert old.get(url).status_code == 200
    assert _queries(old, url) == _queries(new, url)
