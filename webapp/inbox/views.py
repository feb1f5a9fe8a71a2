"""Web views: attachment downloads and previews streamed from storage, and the health check."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from django.core.files import File
from django.core.files.storage import storages
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from pipeline import locks
from pipeline.content import safe_filename

from .delivery import authorize, harden, stored_response
from .models import Attachment
from .services.access import limit_to_user
from .services.preview_requests import PreviewNotNow, attachment_preview_made

logger = logging.getLogger(__name__)

#: The permission a staff user needs to download or preview attachments.
VIEW_PERMISSION = "inbox.view_attachment"

#: A content type we are willing to put in a header: `type/subtype`, nothing else.
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")

#: How long a browser may keep a preview (previews are named by content, so they never change).
PREVIEW_MAX_AGE = 3600


def _visible_attachments(request: HttpRequest):
    """Another mailbox's attachment answers 404, as if it did not exist."""
    return limit_to_user(Attachment.objects.all(), request.user, mailbox_field="message__mailbox_id")


def _open(name: str) -> File | None:
    """Never read whole: the response streams the open file. None when the object is missing."""
    try:
        return storages["default"].open(name, "rb")
    except FileNotFoundError:
        logger.error("stored object %s is missing from storage", name)
        return None


def _header_content_type(*candidates: str) -> str:
    for value in candidates:
        value = (value or "").split(";")[0].strip().lower()
        if _CONTENT_TYPE.match(value):
            return value
    return "application/octet-stream"


@require_safe
def attachment_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    if (denied := authorize(request, VIEW_PERMISSION)) is not None:
        return denied
    attachment = get_object_or_404(_visible_attachments(request).select_related("blob"), pk=pk)
    blob = attachment.blob
    if blob is None or not blob.storage_name:
        raise Http404(_("This attachment has no stored file."))
    filename = safe_filename(attachment.filename, fallback=f"attachment-{attachment.pk}")
    content_type = _header_content_type(attachment.content_type, blob.content_type)
    response = stored_response(blob.storage_name, filename=filename, content_type=content_type)
    if response is None:
        raise Http404(_("This attachment has no stored file."))
    patch_cache_control(response, private=True)
    return harden(response)


@require_safe
def attachment_preview(request: HttpRequest, pk: int) -> HttpResponseBase:
    if (denied := authorize(request, VIEW_PERMISSION)) is not None:
        return denied
    attachment = get_object_or_404(_visible_attachments(request), pk=pk)
    try:
        attachment = attachment_preview_made(attachment=attachment)  # drawn on its first request
    except PreviewNotNow:
        unavailable = HttpResponse(_("The preview cannot be made right now; try again in a moment."), status=503)
        unavailable["Retry-After"] = "30"
        return harden(unavailable)
    ready = attachment.preview_status == Attachment.PreviewStatus.READY and attachment.preview_name
    response = ready and stored_response(
        attachment.preview_name,
        filename=f"preview-{attachment.pk}.png",
        content_type="image/png",
        as_attachment=False,
        check_exists=False,
    )
    if not response:
        raise Http404(_("This attachment has no preview."))
    patch_cache_control(response, private=True, max_age=PREVIEW_MAX_AGE)
    return harden(response)


def _check(probe: Callable[[], object], name: str) -> dict:
    """Run one probe; errors are reported by class only, so no URL or secret reaches the output."""
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:
        logger.warning("health check %s failed: %r", name, exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis() -> None:
    locks.shared_client().ping()


@csrf_exempt
@require_safe
def health_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches neither the database nor Redis, so an outage of
    either never gets healthy web processes restarted (readiness, /health/, covers them)."""
    response = JsonResponse({"status": "ok"})
    patch_cache_control(response, no_store=True)
    return response


@csrf_exempt
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check(_database, "database"), "redis": _check(_redis, "redis")}
    healthy = all(check["ok"] for check in checks.values())
    response = JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)
    patch_cache_control(response, no_store=True)
    return response
