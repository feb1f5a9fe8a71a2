"""Nobody let in: per-mailbox access in every admin list and download; dead letters in the admin;
verify_storage; the mailbox lock; object names from the hash."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from pipeline import locks, queues, samples
from tests.support.inline import process_mailbox
from tests.support.processes import wait_for
from webapp.documents.models import Document, DocumentSource
from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailboxAccess, MailMessage
from webapp.inbox.services.messages import message_begin_delivery, message_save
from webapp.inbox.services.runs import fetch_run_create, fetch_run_execute

pytestmark = pytest.mark.django_db

PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=5, total=500)


def folder_mailbox(tmp_path, name: str, folio: int) -> Mailbox:
    inbox = tmp_path / name
    inbox.mkdir()
    (inbox / "01.eml").write_bytes(
        samples.supplier_email(
            folio=folio,
            message_id=f"<{name}@b.cl>",
            attachments=[
                (f"Factura_{folio}.pdf", "application/pdf", PDF if name == "north" else PDF + b"%" + name.encode())
            ],
        )
    )
    mailbox = Mailbox.objects.create(name=name, settings={"path": str(inbox)})
    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    new: list[int] = []
    fetch_run_execute(run=run, on_new_message=new.append)
    for message_id in new:
        message_save(message=message_begin_delivery(message_id=message_id))
    return mailbox


@pytest.fixture
def two_mailboxes(tmp_path):
    north, south = folder_mailbox(tmp_path, "north", 1), folder_mailbox(tmp_path, "south", 2)
    docs = {}
    for mailbox, folio in ((north, 1), (south, 2)):
        attachment = Attachment.objects.get(message__mailbox=mailbox)
        attachment.preview_status, attachment.preview_name = (
            Attachment.PreviewStatus.READY,
            attachment.blob.storage_name,
        )
        attachment.save()
        document = Document.objects.create(
            mailbox=mailbox,
            doc_type=33,
            folio=folio,
            issuer_rut="76086428-5",
            issue_date="2025-01-01",
            xml_attachment=attachment,
            printable_status="ready",
            printable_name=attachment.blob.storage_name,
            preview_name=attachment.blob.storage_name,
        )
        DocumentSource.objects.create(document=document, attachment=attachment, position=0)
        docs[mailbox.name] = document
    return north, south, docs


def limited_client(client, mailbox: Mailbox, *, via_group: bool = False):
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    codenames = [
        "view_attachment",
        "view_mailmessage",
        "view_fetchrun",
        "view_blob",
        "view_mailbox",
        "view_document",
        "view_xmlclassification",
    ]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    if via_group:
        group = Group.objects.create(name=f"team-{mailbox.name}")
        user.groups.add(group)
        MailboxAccess.objects.create(mailbox=mailbox, group=group)
    else:
        MailboxAccess.objects.create(mailbox=mailbox, user=user)
    client.force_login(user)
    return client


@pytest.mark.parametrize("via_group", [False, True], ids=["user", "group"])
def test_a_user_limited_to_one_mailbox_sees_and_downloads_only_its_rows(client, two_mailboxes, via_group):
    north, south, docs = two_mailboxes
    limited_client(client, north, via_group=via_group)
    mine, theirs = Attachment.objects.get(message__mailbox=north), Attachment.objects.get(message__mailbox=south)
    for model, mine_obj, theirs_obj in [
        ("inbox_mailbox", north, south),
        ("inbox_fetchrun", north.runs.get(), south.runs.get()),
        ("inbox_mailmessage", mine.message, theirs.message),
        ("inbox_attachment", mine, theirs),
        ("inbox_blob", mine.blob, theirs.blob),
        ("documents_document", docs["north"], docs["south"]),
    ]:
        listing = client.get(reverse(f"admin:{model}_changelist"))
        assert listing.status_code == 200
        assert listing.context["cl"].result_count == 1, model
        assert list(listing.context["cl"].queryset) == [mine_obj], model
        assert client.get(reverse(f"admin:{model}_change", args=[mine_obj.pk])).status_code == 200, model
        # another mailbox's id looks like an id that does not exist (the admin redirects with "doesn't exist")
        other = client.get(reverse(f"admin:{model}_change", args=[theirs_obj.pk]))
        assert other.status_code == 302 and other.url == reverse("admin:index"), model
    assert client.get(reverse("inbox:attachment_download", args=[mine.pk])).status_code == 200
    for name, args in [
        ("inbox:attachment_download", [theirs.pk]),
        ("inbox:attachment_preview", [theirs.pk]),
        ("documents:xml_download", [docs["south"].pk]),
        ("documents:printable_download", [docs["south"].pk]),
        ("documents:preview", [docs["south"].pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 404, name
    assert client.get(reverse("documents:xml_download", args=[docs["north"].pk])).status_code == 200
    # searching by folio must not reach the other mailbox's documents either
    found = client.get(reverse("admin:documents_document_changelist") + "?q=2")
    assert found.context["cl"].result_count == 0
    # the ZIP action on a forged selection only holds the user's own documents
    response = client.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": [docs["north"].pk, docs["south"].pk]},
    )
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names and all(n.startswith("33-1-") for n in names), names


def test_a_staff_user_without_any_mailbox_access_sees_nothing(client, two_mailboxes):
    north, _, _ = two_mailboxes
    user = User.objects.create_user("nobody", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_attachment", "view_mailmessage"]))
    client.force_login(user)
    assert client.get(reverse("admin:inbox_mailmessage_changelist")).context["cl"].result_count == 0
    attachment = Attachment.objects.get(message__mailbox=north)
    assert client.get(reverse("inbox:attachment_download", args=[attachment.pk])).status_code == 404
    client.logout()
    anonymous = client.get(reverse("inbox:attachment_download", args=[attachment.pk]))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.url


def test_superuser_and_view_all_permission_see_every_mailbox(client, two_mailboxes):
    admin = User.objects.create_superuser("boss", password="x")
    client.force_login(admin)
    assert client.get(reverse("admin:inbox_attachment_changelist")).context["cl"].result_count == 2


def test_a_quarantined_message_shows_its_reason_in_the_admin(admin_client, two_mailboxes):
    north, _, _ = two_mailboxes
    message = MailMessage.objects.get(mailbox=north)
    MailMessage.objects.filter(pk=message.pk).update(
        status=MailMessage.Status.QUARANTINED,
        delivery_attempts=6,
        error="Gave up after 5 deliveries that did not finish (the processing stopped, took too long or kept failing).",
    )
    page = admin_client.get(reverse("admin:inbox_mailmessage_changelist") + "?status=quarantined")
    assert "Gave up after 5 deliveries" in page.content.decode()


def _dead_letter(redis_client, *, actor: str = "save_message", args=(41,), traceback: str | None = None) -> str:
    message_id = f"dead-{time.time_ns()}"
    options = {"redis_message_id": message_id, "retries": 3}
    if traceback:
        options["traceback"] = traceback
    body = {
        "queue_name": "default",
        "actor_name": actor,
        "args": list(args),
        "kwargs": {},
        "options": options,
        "message_id": message_id,
        "message_timestamp": int(time.time() * 1000),
    }
    redis_client.zadd("dramatiq:default.XQ", {message_id: time.time() * 1000})
    redis_client.hset("dramatiq:default.XQ.msgs", message_id, json.dumps(body))
    return message_id


def test_dead_letters_are_listed_with_their_reason_and_sent_again(client, redis_client):
    message_id = _dead_letter(redis_client, traceback="Traceback...\nOSError: disk full")
    other = _dead_letter(redis_client, actor="render_attachment", args=(7,))
    redis_client.set(queues.dead_reason_key(other), "DoesNotExist: Attachment matching query does not exist.")
    url = reverse("admin:inbox_dead_letters")

    plain = User.objects.create_user("plain", password="x", is_staff=True)
    client.force_login(plain)
    assert client.get(url).status_code == 403
    assert client.post(url, {"queue": "default", "message_id": message_id}).status_code == 403

    operator = User.objects.create_user("operator", password="x", is_staff=True)
    # letters of any mailbox (and of none: a tick) are for who sees every mailbox
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["resend_dead_letters", "view_all_mailboxes"])
    )
    client.force_login(operator)
    page = client.get(url).content.decode()
    assert "OSError: disk full" in page and "DoesNotExist: Attachment matching" in page and "render_attachment" in page
    before = redis_client.llen("dramatiq:default")
    assert client.post(url, {"queue": "default", "message_id": message_id}).status_code == 302
    assert redis_client.llen("dramatiq:default") == before + 1
    assert not redis_client.hexists("dramatiq:default.XQ.msgs", message_id)
    sent = json.loads(redis_client.hget("dramatiq:default.msgs", redis_client.lrange("dramatiq:default", -1, -1)[0]))
    assert sent["actor_name"] == "save_message" and sent["args"] == [41] and "traceback" not in sent["options"]
    assert (
        "gone already" in client.post(url, {"queue": "default", "message_id": message_id}, follow=True).content.decode()
    )


def test_verify_storage_reports_and_repairs_from_the_folder_source(tmp_path, capsys):
    north = folder_mailbox(tmp_path, "north", 1)
    attachment = Attachment.objects.get(message__mailbox=north)
    blob = attachment.blob
    assert blob.storage_name == f"blobs/{blob.sha256[:2]}/{blob.sha256[2:4]}/{blob.sha256}", "named by hash only"
    assert "Factura" not in blob.storage_name
    call_command("verify_storage")
    storage = storages["default"]
    storage.delete(blob.storage_name)
    with pytest.raises(CommandError):
        call_command("verify_storage")
    assert "missing from storage" in capsys.readouterr().out
    call_command("verify_storage", "--repair")
    assert "repaired: fetched again from message" in capsys.readouterr().out
    with storage.open(blob.storage_name) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == blob.sha256
    # damaged in place: same name, other bytes
    with open(storage.path(blob.storage_name), "r+b") as handle:
        handle.write(b"XXXX")
    with pytest.raises(CommandError):
        call_command("verify_storage")
    assert "content hash" in capsys.readouterr().out
    call_command("verify_storage", "--repair")
    # gone from the source too: reported, not repaired
    (tmp_path / "north" / "processed" / "01.eml").unlink()
    storage.delete(blob.storage_name)
    with pytest.raises(CommandError):
        call_command("verify_storage", "--repair")
    assert "not repaired" in capsys.readouterr().out


def test_a_listing_in_progress_keeps_a_second_run_out_and_a_dead_holders_lock_expires(tmp_path, redis_client):
    from pipeline.actors import fetch_mailbox, tick

    inbox = tmp_path / "in"
    inbox.mkdir()
    mailbox = Mailbox.objects.create(name="slow", settings={"path": str(inbox)})
    first = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.SCHEDULE)
    FetchRun.objects.filter(pk=first.pk).update(status=FetchRun.Status.RUNNING)  # listing for longer than a slot
    tick.fn()
    assert mailbox.runs.count() == 1, "the next tick starts no second run while the first is listing"

    # a run that got past that check still cannot list: the per-mailbox Redis lock is held
    holder = locks.mailbox_lock(locks.shared_client(), mailbox.pk, timeout_seconds=1)
    assert holder.acquire()
    second = FetchRun.objects.create(mailbox=mailbox)
    fetch_mailbox.fn(second.pk)
    second.refresh_from_db()
    assert second.status == FetchRun.Status.SKIPPED and "in progress" in second.error
    # the holder dies without releasing: its lock expires by itself
    wait_for(lambda: not holder.locked(), timeout=10, interval=0.05, what="the dead holder's lock to expire")
    third = FetchRun.objects.create(mailbox=mailbox)
    fetch_mailbox.fn(third.pk)
    third.refresh_from_db()
    assert third.status == FetchRun.Status.COMPLETED


def test_a_password_in_redis_url_is_never_shown(monkeypatch):
    from webapp.inbox.services import status as status_service

    monkeypatch.setattr(locks, "shared_client", lambda: locks.redis_client("redis://:hunter2-pass@127.0.0.1:1/0"))
    state = status_service.pipeline_status()
    assert state["redis"]["ok"] is False and "hunter2-pass" not in json.dumps(state, default=str)


def test_a_blob_search_does_not_match_the_names_another_mailbox_gave_the_same_content(client, tmp_path):
    """A clerk sees the blob of their own PDF; searched by attachment name, the blob list matched the
    names of every attachment of that content, another mailbox's ZIP members too: an oracle for the
    names (one letter at a time) under which someone else keeps the same file."""
    north = folder_mailbox(tmp_path, "north", 1)
    members = io.BytesIO()
    with zipfile.ZipFile(members, "w") as archive:
        archive.writestr("sueldos-gerencia.pdf", PDF)
    inbox = tmp_path / "south"
    inbox.mkdir()
    (inbox / "01.eml").write_bytes(
        samples.supplier_email(attachments=[("rrhh.zip", "application/zip", members.getvalue())])
    )
    south = Mailbox.objects.create(name="south", settings={"path": str(inbox)})
    assert process_mailbox(south).raised == []
    shared = Attachment.objects.get(message__mailbox=south, original_filename="sueldos-gerencia.pdf").blob
    assert Attachment.objects.filter(message__mailbox=north, blob=shared).exists()
    limited_client(client, north)
    for term in ("sueldos", "gerencia", "Factura_1"):
        listed = client.get(reverse("admin:inbox_blob_changelist"), {"q": term}).context["cl"].result_list
        assert list(listed) == ([shared] if term == "Factura_1" else []), term
