"""A clerk of one mailbox, with every right but seeing all mailboxes, acts on nothing of another: admin
actions, the dashboard's buttons, dead letters, accesses, and another mailbox's ids in URLs."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from tests.support.mailbox_pair import mailbox_pair
from webapp.documents.models import Document, DocumentSource
from webapp.inbox.models import Attachment, FetchRun, MailboxAccess, MailMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(tmp_path, redis_client):
    return mailbox_pair(tmp_path, redis_client)


@pytest.fixture
def clerk(client, pair):
    client.force_login(pair.clerk)
    return client


def sur_state(pair) -> dict:
    """What an action on the other mailbox would change."""
    return {
        "runs": sorted(FetchRun.objects.filter(mailbox=pair.sur).values_list("pk", "status")),
        "messages": sorted(MailMessage.objects.filter(mailbox=pair.sur).values_list("pk", "status", "error")),
        "previews": sorted(
            Attachment.objects.filter(message__mailbox=pair.sur).values_list("pk", "preview_status", "preview_error")
        ),
        "accesses": sorted(MailboxAccess.objects.filter(mailbox=pair.sur).values_list("pk", "user_id")),
    }


def test_the_dashboard_buttons_act_on_the_clerks_mailboxes_only(clerk, pair):
    before = sur_state(pair)
    url = reverse("pipeline_dashboard")
    for action in ("retry", "rerender", "fetch"):
        assert clerk.post(url, {"action": action}).status_code == 302
    assert sur_state(pair) == before
    assert not MailMessage.objects.filter(mailbox=pair.norte, status=MailMessage.Status.QUARANTINED).exists()
    assert FetchRun.objects.filter(mailbox=pair.norte, trigger=FetchRun.Trigger.MANUAL).exists()


def test_admin_actions_on_the_other_mailboxs_ids_do_nothing(clerk, pair):
    before = sur_state(pair)
    sur_runs = list(FetchRun.objects.filter(mailbox=pair.sur).values_list("pk", flat=True))
    posts = [
        ("admin:inbox_mailbox_changelist", "fetch_now", [pair.sur.pk]),
        ("admin:inbox_fetchrun_changelist", "cancel_runs", sur_runs),
        ("admin:inbox_mailboxaccess_changelist", "delete_selected", [a for a, _ in before["accesses"]]),
        ("admin:inbox_mailbox_changelist", "delete_selected", [pair.sur.pk]),
    ]
    for name, action, ids in posts:
        response = clerk.post(reverse(name), {"action": action, "_selected_action": ids, "post": "yes"})
        assert response.status_code in (200, 302), (action, response.status_code)
        assert sur_state(pair) == before, action
    assert clerk.post(reverse("admin:inbox_mailbox_fetch", args=[pair.sur.pk])).status_code == 404
    assert sur_state(pair) == before


def test_the_zip_action_leaves_out_the_other_mailboxs_documents(clerk, pair):
    mine = DocumentSource.objects.filter(attachment__message__mailbox=pair.norte).values("document_id")
    response = clerk.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": list(Document.objects.values_list("pk", flat=True))},
    )
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    expected = {f"{d.file_stem}-{d.issuer_rut}" for d in Document.objects.filter(pk__in=mine)}
    assert {name.rsplit(".", 1)[0].removesuffix("-impreso").removesuffix("-proveedor") for name in names} == expected


def test_dead_letters_of_the_other_mailbox_cannot_be_sent_again(clerk, pair, redis_client):
    url = reverse("admin:inbox_dead_letters")
    queue_of = {0: "default", 1: "render", 2: "default", 3: "default"}
    for index, letter in enumerate(pair.sur_letters):
        page = clerk.post(url, {"queue": queue_of[index], "message_id": letter}, follow=True).content.decode()
        assert "gone already" in page, letter
        assert redis_client.hexists(f"dramatiq:{queue_of[index]}.XQ.msgs", letter), "still a dead letter"
    clerk.post(url, {"queue": "default", "message_id": pair.norte_letter})
    assert not redis_client.hexists("dramatiq:default.XQ.msgs", pair.norte_letter), "the clerk's own one was sent"


def test_the_clerk_grants_access_to_their_mailboxes_only(clerk, pair):
    add = reverse("admin:inbox_mailboxaccess_add")
    refused = clerk.post(add, {"mailbox": pair.sur.pk, "user": pair.clerk.pk})
    assert refused.status_code == 200 and refused.context["adminform"].form.errors.get("mailbox")
    assert not MailboxAccess.objects.filter(mailbox=pair.sur, user=pair.clerk).exists()
    own = MailboxAccess.objects.get(mailbox=pair.norte, user=pair.clerk)
    change = reverse("admin:inbox_mailboxaccess_change", args=[own.pk])
    moved = clerk.post(change, {"mailbox": pair.sur.pk, "user": pair.clerk.pk})
    assert moved.status_code == 200 and moved.context["adminform"].form.errors.get("mailbox")
    assert MailboxAccess.objects.get(pk=own.pk).mailbox == pair.norte


def test_the_other_mailboxs_rows_by_url_look_like_rows_that_do_not_exist(clerk, pair):
    rows = [
        pair.sur,
        FetchRun.objects.filter(mailbox=pair.sur).first(),
        MailMessage.objects.filter(mailbox=pair.sur).first(),
        Attachment.objects.filter(message__mailbox=pair.sur).first(),
        MailboxAccess.objects.filter(mailbox=pair.sur).first(),
        Document.objects.get(issuer_rut__startswith="77777777"),
    ]
    for row in rows:
        opts = row._meta
        for view in ("change", "delete", "history"):
            name = f"admin:{opts.app_label}_{opts.model_name}_{view}"
            theirs, missing = (clerk.get(reverse(name, args=[pk]), follow=True) for pk in (row.pk, 987654))
            assert theirs.status_code == missing.status_code, name
            assert theirs.redirect_chain == missing.redirect_chain, name
            assert answer_text(theirs, row.pk) == answer_text(missing, 987654), name
        deleting = clerk.post(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk]), {"post": "yes"}
        )
        assert deleting.status_code in (302, 403)
        clerk.get(reverse("admin:index"))  # its message read
        assert type(row).objects.filter(pk=row.pk).exists()


def answer_text(response, pk: int) -> list[str]:
    """The messages shown, the id put aside."""
    if response.context is None or "messages" not in response.context:
        return []
    return [str(message).replace(str(pk), "ID") for message in response.context["messages"]]


def test_the_access_form_names_only_people_of_the_clerks_own_mailboxes(client, tmp_path):
    """Granting access lists who already shares the clerk's mailbox and who has none yet; the people
    of another mailbox, those who see every mailbox, and other mailboxes' groups stay unnamed."""
    from django.contrib.auth.models import Group, Permission, User

    from tests.support.mailbox_pair import clerk_of
    from webapp.inbox.models import Mailbox

    norte = Mailbox.objects.create(name="norte", settings={"path": str(tmp_path)})
    sur = Mailbox.objects.create(name="sur", settings={"path": str(tmp_path)})
    MailboxAccess.objects.create(mailbox=sur, user=User.objects.create_user("sur-accountant", is_staff=True))
    MailboxAccess.objects.create(mailbox=sur, group=Group.objects.create(name="sur-team"))
    User.objects.create_superuser("root-operator", password="x")
    auditor = User.objects.create_user("all-seeing-auditor", is_staff=True)
    auditor.user_permissions.add(Permission.objects.get(codename="view_all_mailboxes"))
    User.objects.create_user("new-colleague", is_staff=True)
    MailboxAccess.objects.create(mailbox=norte, user=User.objects.create_user("norte-colleague", is_staff=True))
    client.force_login(clerk_of(norte))
    page = client.get(reverse("admin:inbox_mailboxaccess_add")).content.decode()
    for hidden in ("sur-accountant", "sur-team", "root-operator", "all-seeing-auditor"):
        assert hidden not in page, hidden
    assert "new-colleague" in page and "norte-colleague" in page
