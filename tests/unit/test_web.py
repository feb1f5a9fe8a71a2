"""The web side: admin over every model, streamed downloads and previews, the health check.

Files are real files in the default storage; Redis is the real server tests/conftest.py starts.
"""

from __future__ import annotations

import hashlib
import json
import struct
import urllib.parse
import zlib

import pytest
import redis
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline import locks
from pipeline.content import safe_filename
from pipeline.embedded_redis import free_port
from pipeline.storage import preview_name, save_spooled, spool
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

PDF_BYTES = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
MODELS = ("mailbox", "fetchrun", "mailmessage", "blob", "attachment")
READ_ONLY_MODELS = ("fetchrun", "mailmessage", "blob", "attachment")


def tiny_png() -> bytes:
    """A valid 1x1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


def store_blob(content: bytes, content_type: str = "application/pdf") -> Blob:
    with spool(iter([content[i : i + 1000] for i in range(0, len(content), 1000)]), max_bytes=10**7) as spooled:
        name = save_spooled(storages["default"], spooled)
        return Blob.objects.create(
            sha256=spooled.sha256, size=spooled.size, content_type=content_type, storage_name=name
        )


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox.objects.create(name="acme-invoices", settings={"path": "/tmp/none"})


@pytest.fixture
def message(mailbox: Mailbox) -> MailMessage:
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED, messages_seen=3, messages_new=1)
    return MailMessage.objects.create(
        mailbox=mailbox,
        fetch_run=run,
        source_id="src-1",
        subject="Factura 123",
        sender="billing@supplier.cl",
        internet_message_id="<abc@supplier.cl>",
        status=MailMessage.Status.PROCESSED,
        error="boom " * 50,
        attachment_count=2,
    )


def make_attachment(
    message: MailMessage,
    *,
    position: int = 0,
    filename: str = "factura.pdf",
    blob: Blob | None = None,
    ready_preview: bool = False,
) -> Attachment:
    attachment = Attachment.objects.create(
        message=message,
        position=position,
        original_filename=filename,
        filename=filename,
        content_type="application/pdf",
        blob=blob,
        status=Attachment.Status.STORED if blob else Attachment.Status.SKIPPED,
    )
    if ready_preview:
        name = preview_name(blob.sha256)
        storages["default"].save(name, ContentFile(tiny_png(), name=name))
        Attachment.objects.filter(pk=attachment.pk).update(
            preview_status=Attachment.PreviewStatus.READY, preview_name=name
        )
        attachment.refresh_from_db()
    return attachment


@pytest.fixture
def attachment(message: MailMessage) -> Attachment:
    return make_attachment(message, blob=store_blob(PDF_BYTES), ready_preview=True)


def login(client, django_user_model, *, staff: bool, permitted: bool, username: str = "clerk"):
    user = django_user_model.objects.create_user(username=username, password="pw-not-used", is_staff=staff)
    if permitted:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="inbox", codename="view_attachment"),
            Permission.objects.get(codename="view_all_mailboxes"),
        )  # not limited to some mailboxes
    client.force_login(user)
    return client


def download_url(pk: int) -> str:
    return reverse("inbox:attachment_download", args=[pk])


def preview_url(pk: int) -> str:
    return reverse("inbox:attachment_preview", args=[pk])


# --- admin -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_changelists_answer_with_rows(admin_client, attachment, model):
    response = admin_client.get(reverse(f"admin:inbox_{model}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_changelists_show_the_rows(admin_client, attachment):
    assert b"acme-invoices" in admin_client.get(reverse("admin:inbox_mailbox_changelist")).content
    assert b"Factura 123" in admin_client.get(reverse("admin:inbox_mailmessage_changelist")).content
    assert attachment.blob.sha256.encode() in admin_client.get(reverse("admin:inbox_blob_changelist")).content
    runs = admin_client.get(reverse("admin:inbox_fetchrun_changelist")).content.decode()
    assert "Completed" in runs and "acme-invoices" in runs


def test_attachment_list_shows_thumbnail_and_download(admin_client, attachment):
    page = admin_client.get(reverse("admin:inbox_attachment_changelist")).content.decode()
    assert f'<img class="thumb" src="{preview_url(attachment.pk)}"' in page
    assert 'loading="lazy"' in page
    assert f'<a href="{download_url(attachment.pk)}">Download</a>' in page
    assert "factura.pdf" in page


def test_attachment_without_preview_or_blob_has_no_img_nor_download(admin_client, message):
    skipped = make_attachment(message, position=1, filename="skipped.bin")
    page = admin_client.get(reverse("admin:inbox_attachment_changelist")).content.decode()
    assert preview_url(skipped.pk) not in page
    assert download_url(skipped.pk) not in page


def test_hostile_filename_is_escaped_in_admin(admin_client, message):
    make_attachment(message, filename='<script>alert(1)</script>".pdf', blob=store_blob(b"x" * 10), ready_preview=True)
    page = admin_client.get(reverse("admin:inbox_attachment_changelist")).content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;.pdf" in page


def test_message_page_shows_its_mailbox_read_and_attachment_inline(admin_client, attachment):
    message = attachment.message
    page = admin_client.get(reverse("admin:inbox_mailmessage_change", args=[message.pk])).content.decode()
    assert str(message.fetch_run) in page, "the page says which mailbox read brought the mail"
    assert "factura.pdf" in page and download_url(attachment.pk) in page


@pytest.mark.parametrize("model", READ_ONLY_MODELS)
def test_pipeline_rows_cannot_be_added(admin_client, model):
    assert admin_client.get(reverse(f"admin:inbox_{model}_add")).status_code == 403


def test_pipeline_rows_cannot_be_changed_or_deleted(admin_client, attachment):
    change = admin_client.post(reverse("admin:inbox_attachment_change", args=[attachment.pk]), {"filename": "x"})
    assert change.status_code == 403
    assert admin_client.get(reverse("admin:inbox_attachment_delete", args=[attachment.pk])).status_code == 403
    assert Attachment.objects.get(pk=attachment.pk).filename == "factura.pdf"


@pytest.mark.parametrize("model", ["attachment", "mailmessage", "fetchrun", "mailbox"])
def test_changelist_queries_do_not_grow_with_rows(admin_client, message, model):
    url = reverse(f"admin:inbox_{model}_changelist")
    make_attachment(message, blob=store_blob(b"first"), ready_preview=True)
    admin_client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for n in range(1, 6):
        other = MailMessage.objects.create(mailbox=message.mailbox, fetch_run=message.fetch_run, source_id=f"s{n}")
        make_attachment(other, blob=store_blob(b"more %d" % n), ready_preview=True)
        FetchRun.objects.create(mailbox=Mailbox.objects.create(name=f"box-{n}"))
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)
    assert len(many) == len(one)


# --- "Fetch now" --------------------------------------------------------------------------------


def test_fetch_now_action_creates_a_manual_run_and_enqueues_after_commit(
    admin_client, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:inbox_mailbox_changelist"),
            {"action": "fetch_now", "_selected_action": [mailbox.pk]},
            follow=True,
        )
    assert response.status_code == 200
    run = FetchRun.objects.get(mailbox=mailbox)
    assert run.trigger == FetchRun.Trigger.MANUAL and run.status == FetchRun.Status.PENDING
    assert len(callbacks) == 1
    assert "mailbox read queued" in response.content.decode()


def test_fetch_now_while_a_run_is_active_starts_nothing(admin_client, mailbox, django_capture_on_commit_callbacks):
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.RUNNING, trigger=FetchRun.Trigger.SCHEDULE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:inbox_mailbox_changelist"),
            {"action": "fetch_now", "_selected_action": [mailbox.pk]},
            follow=True,
        )
    assert "already in progress" in response.content.decode()
    assert FetchRun.objects.filter(mailbox=mailbox).count() == 1
    assert callbacks == []


def test_fetch_now_sends_the_run_to_redis_once_committed(
    admin_client, mailbox, redis_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:inbox_mailbox_changelist"), {"action": "fetch_now", "_selected_action": [mailbox.pk]}
        )
    run = FetchRun.objects.get(mailbox=mailbox)
    queued = [json.loads(body) for body in redis_client.hvals("dramatiq:default.msgs")]
    assert [(m["actor_name"], m["args"]) for m in queued] == [("fetch_mailbox", [run.pk])]


def test_fetch_now_button_on_the_change_page(admin_client, mailbox, django_capture_on_commit_callbacks):
    url = reverse("admin:inbox_mailbox_fetch", args=[mailbox.pk])
    page = admin_client.get(reverse("admin:inbox_mailbox_change", args=[mailbox.pk])).content.decode()
    assert f'formaction="{url}"' in page
    assert page.index('name="_save"') < page.index("formaction="), "Enter in a field must save, not fetch"
    assert admin_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(url)
    assert response.status_code == 302
    assert FetchRun.objects.get(mailbox=mailbox).trigger == FetchRun.Trigger.MANUAL
    assert len(callbacks) == 1


def test_fetch_now_button_is_csrf_protected(mailbox, django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    assert client.post(reverse("admin:inbox_mailbox_fetch", args=[mailbox.pk])).status_code == 403
    assert not FetchRun.objects.exists()


# --- downloads -------------------------------------------------------------------------------------


def test_download_streams_the_exact_bytes(client, django_user_model, attachment):
    login(client, django_user_model, staff=True, permitted=True)
    response = client.get(download_url(attachment.pk))
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(PDF_BYTES).hexdigest() == attachment.blob.sha256
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="factura.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Content-Length"] == str(len(PDF_BYTES))


def test_superuser_downloads_too(admin_client, attachment):
    response = admin_client.get(download_url(attachment.pk))
    assert b"".join(response.streaming_content) == PDF_BYTES


def test_anonymous_is_sent_to_login_without_bytes(client, attachment):
    response = client.get(download_url(attachment.pk))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")
    assert not response.streaming and response.content == b""


@pytest.mark.parametrize(("staff", "permitted"), [(False, True), (True, False), (False, False)])
def test_user_without_staff_and_permission_is_forbidden(client, django_user_model, attachment, staff, permitted):
    login(client, django_user_model, staff=staff, permitted=permitted)
    for url in (download_url(attachment.pk), preview_url(attachment.pk)):
        response = client.get(url)
        assert response.status_code == 403
        assert not response.streaming


def test_missing_attachment_is_404(admin_client):
    assert admin_client.get(download_url(999_999)).status_code == 404


def test_attachment_without_blob_is_404(admin_client, message):
    skipped = make_attachment(message, position=1)
    assert admin_client.get(download_url(skipped.pk)).status_code == 404


def test_blob_missing_from_storage_is_404(admin_client, attachment):
    Blob.objects.filter(pk=attachment.blob_id).update(storage_name="blobs/00/00/gone")
    assert admin_client.get(download_url(attachment.pk)).status_code == 404


def test_download_is_get_only(admin_client, attachment):
    assert admin_client.post(download_url(attachment.pk)).status_code == 405


@pytest.mark.parametrize(
    "raw",
    [
        'ño"\r\nX-Injected: 1 ../../fa"ct\r\nura ñ.pdf',
        'in"voice\r\nSet-Cookie: a=b.pdf',
        "../../../etc/passwd",
        "\r\n",
    ],
)
def test_hostile_filename_gives_a_clean_header(admin_client, message, raw):
    hostile = make_attachment(message, position=1, filename=raw, blob=store_blob(PDF_BYTES))
    response = admin_client.get(download_url(hostile.pk))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert not response.has_header("X-Injected") and not response.has_header("Set-Cookie")
    assert "a" not in response.cookies
    expected = safe_filename(raw, fallback=f"attachment-{hostile.pk}")
    assert "/" not in expected and '"' not in expected
    if "filename*=" in disposition:
        assert disposition == f"attachment; filename*=utf-8''{urllib.parse.quote(expected)}"
        assert urllib.parse.unquote(disposition.split("''", 1)[1]) == expected
    else:
        assert disposition == f'attachment; filename="{expected}"'
        assert disposition.count('"') == 2
    assert b"".join(response.streaming_content) == PDF_BYTES


def test_non_ascii_filename_uses_rfc5987(admin_client, message):
    named = make_attachment(message, position=1, filename="factura ñandú.pdf", blob=store_blob(PDF_BYTES))
    response = admin_client.get(download_url(named.pk))
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''factura%20%C3%B1and%C3%BA.pdf"


# --- previews --------------------------------------------------------------------------------------


def test_preview_is_served_inline_as_png(client, django_user_model, attachment):
    login(client, django_user_model, staff=True, permitted=True)
    response = client.get(preview_url(attachment.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == tiny_png()
    assert not response["Content-Disposition"].startswith("attachment")
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"private", "max-age=3600"}
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "status", [Attachment.PreviewStatus.NONE, Attachment.PreviewStatus.PENDING, Attachment.PreviewStatus.FAILED]
)
def test_preview_not_ready_is_404(admin_client, attachment, status):
    Attachment.objects.filter(pk=attachment.pk).update(preview_status=status)
    assert admin_client.get(preview_url(attachment.pk)).status_code == 404


def test_preview_anonymous_is_sent_to_login(client, attachment):
    assert client.get(preview_url(attachment.pk)).status_code == 302


# --- health ------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_shared_client():
    """shared_client() is cached per process: start and end each test with a new one."""
    locks.shared_client.cache_clear()
    yield
    locks.shared_client.cache_clear()


def test_health_ok(client, redis_url, monkeypatch, fresh_shared_client):
    monkeypatch.setenv("REDIS_URL", redis_url)
    response = client.get("/health/")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ok"
    assert data["checks"]["database"]["ok"] is True and data["checks"]["database"]["ms"] >= 0
    assert data["checks"]["redis"]["ok"] is True
    assert "no-store" in response["Cache-Control"]


def test_health_503_when_redis_is_unreachable(client, monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setattr(
        locks, "shared_client", lambda: redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    )
    response = client.get("/health/")
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "error"
    assert data["checks"]["database"]["ok"] is True
    assert data["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}


def test_health_never_shows_the_redis_password(client, monkeypatch, fresh_shared_client):
    monkeypatch.setenv("REDIS_URL", f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("REDIS_CONNECT_TIMEOUT", "1")
    response = client.get("/health/")
    assert response.status_code == 503
    assert b"s3cret" not in response.content and b"redis://" not in response.content


def test_health_needs_no_login_and_no_csrf_token(redis_url, monkeypatch, fresh_shared_client):
    from django.test import Client

    monkeypatch.setenv("REDIS_URL", redis_url)
    response = Client(enforce_csrf_checks=True).get("/health/")
    assert response.status_code == 200
