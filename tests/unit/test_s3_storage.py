"""Storage on S3 (STORAGE_BACKEND=s3), against a real S3-protocol server on 127.0.0.1 (moto's server mode).

Uploads are streamed (multipart past 8 MB), objects keep their hash names, downloads answer a
redirect to a short-lived signed URL that carries the original filename, and previews render
from a local copy of the stored PDF.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import urllib.parse

import pytest
import requests
from django.core.files.storage import storages
from django.urls import reverse

from pipeline import samples
from pipeline.config import BASE_DIR
from pipeline.storage import blob_name, save_spooled, spool
from tests.support.s3 import CREDENTIALS, s3_server, storages_setting
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3():
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)  # boto3 reads them, as it does in production
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    try:
        with s3_server() as server:
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_storage(s3, settings):
    settings.STORAGES = storages_setting(s3)  # Django resets storages["default"] on this change
    return storages["default"]


def _store(content: bytes, content_type: str = "application/pdf") -> Blob:
    chunks = (content[i : i + 65536] for i in range(0, len(content), 65536))
    with spool(chunks, max_bytes=10**9) as spooled:
        name = save_spooled(storages["default"], spooled)
        return Blob.objects.create(
            sha256=spooled.sha256, size=spooled.size, content_type=content_type, storage_name=name
        )


def _attachment(blob: Blob, filename: str, content_type: str = "application/pdf") -> Attachment:
    mailbox = Mailbox.objects.create(name=f"s3-{blob.pk}")
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED)
    message = MailMessage.objects.create(
        mailbox=mailbox, fetch_run=run, source_id=f"m-{blob.pk}", status=MailMessage.Status.PROCESSED
    )
    return Attachment.objects.create(
        message=message,
        position=0,
        original_filename=filename,
        filename=filename,
        content_type=content_type,
        blob=blob,
        status=Attachment.Status.STORED,
        preview_status=Attachment.PreviewStatus.PENDING,
    )


def test_large_upload_is_multipart_and_named_by_hash(s3, s3_storage):
    content = os.urandom(12 * 1024 * 1024 + 123)  # past the 8 MB threshold: two parts
    blob = _store(content, "application/octet-stream")
    assert blob.storage_name == blob_name(hashlib.sha256(content).hexdigest())
    head = s3.client().head_object(Bucket=s3.bucket, Key=blob.storage_name)
    assert head["ContentLength"] == len(content)
    assert head["ETag"].strip('"').endswith("-2"), "a multipart upload's ETag ends with its part count"
    with s3_storage.open(blob.storage_name, "rb") as handle:
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(65536), b""):
            digest.update(chunk)
        assert handle.file._rolled, "a large object is downloaded to a temp file, not kept in memory"
    assert digest.hexdigest() == blob.sha256
    # The same content again overwrites the same object instead of making a renamed copy.
    with spool(iter([content]), max_bytes=10**9) as spooled:
        assert save_spooled(s3_storage, spooled) == blob.storage_name
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert keys.count(blob.storage_name) == 1


def test_download_redirects_to_a_signed_url_with_the_original_filename(s3, s3_storage, admin_client):
    content = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=77, total=119_000)
    attachment = _attachment(_store(content), "Factura Ñuñoa 77.pdf")

    response = admin_client.get(reverse("inbox:attachment_download", args=[attachment.pk]))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(s3.endpoint_url)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert "X-Amz-Signature" in query and int(query["X-Amz-Expires"][0]) == 300
    assert query["response-content-disposition"] == ["attachment; filename*=utf-8''Factura%20%C3%91u%C3%B1oa%2077.pdf"]

    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["Content-Type"] == "application/pdf"
    disposition = fetched.headers["Content-Disposition"]
    assert (
        disposition.startswith("attachment;") and "filename*=utf-8''Factura%20%C3%91u%C3%B1oa%2077.pdf" in disposition
    )

    # Anonymous users are sent to the login page, never to a signed URL.
    admin_client.logout()
    anonymous = admin_client.get(reverse("inbox:attachment_download", args=[attachment.pk]))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]


def test_missing_object_is_a_404(s3, s3_storage, admin_client):
    attachment = _attachment(_store(b"%PDF-1.4 gone soon"), "gone.pdf")
    s3.client().delete_object(Bucket=s3.bucket, Key=attachment.blob.storage_name)
    assert admin_client.get(reverse("inbox:attachment_download", args=[attachment.pk])).status_code == 404


def test_preview_renders_from_a_local_copy_and_is_served_inline(s3, s3_storage, admin_client):
    from webapp.inbox.services.previews import attachment_render_preview

    attachment = _attachment(_store(samples.invoice_pdf(issuer_name="Austral", folio=5, total=1000)), "f5.pdf")
    with pytest.raises(NotImplementedError):
        s3_storage.path(attachment.blob.storage_name)  # no local path: local_copy downloads it
    attachment = attachment_render_preview(attachment=attachment)
    assert attachment.preview_status == Attachment.PreviewStatus.READY, attachment.preview_error

    response = admin_client.get(reverse("inbox:attachment_preview", args=[attachment.pk]))
    assert response.status_code == 302
    image = requests.get(response["Location"], timeout=10)
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline;")
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_settings_build_s3_storage_from_the_environment_without_loading_boto3(tmp_path):
    env = dict(
        os.environ,
        STATE_DIR=str(tmp_path),
        SECRET_KEY="s3-settings-test-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="webapp.settings",
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME="invoices",
        AWS_S3_ENDPOINT_URL="https://minio.example.com",
        AWS_S3_ADDRESSING_STYLE="path",
        AWS_QUERYSTRING_EXPIRE="120",
    )
    probe = (
        "import json, sys, webapp.wsgi\nfrom django.conf import settings\n"
        "print(json.dumps([settings.STORAGES['default'], 'boto3' in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    storage, boto3_loaded = json.loads(result.stdout.splitlines()[-1])
    assert storage["BACKEND"] == "pipeline.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "invoices"
    assert storage["OPTIONS"]["endpoint_url"] == "https://minio.example.com"
    assert storage["OPTIONS"]["querystring_expire"] == 120
    assert storage["OPTIONS"]["file_overwrite"] is True
    assert not boto3_loaded, "the web process loads boto3 only when it first touches storage"

    env.pop("AWS_STORAGE_BUCKET_NAME")
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "AWS_STORAGE_BUCKET_NAME" in result.stderr
