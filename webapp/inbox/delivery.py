"""Answer a download from storage: a redirect to a short-lived signed URL on an object store
(the bytes never pass through the web process), else the file streamed from disk."""

from __future__ import annotations

import logging
from typing import TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect

from pipeline.content import safe_filename

logger = logging.getLogger(__name__)

#: Any response, plain or streamed: harden() returns what it was given.
AnyResponse = TypeVar("AnyResponse", bound=HttpResponseBase)


def authorize(request: HttpRequest, permission: str) -> HttpResponse | None:
    """A login redirect for anonymous users; PermissionDenied (403) for staff lacking `permission`."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (request.user.is_staff and request.user.has_perm(permission)):
        raise PermissionDenied
    return None


def harden(response: AnyResponse) -> AnyResponse:
    """A stored file is the sender's content: never sniffed, never run as a page of ours."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


def stored_response(
    name: str, *, filename: str, content_type: str, as_attachment: bool = True, check_exists: bool = True
) -> HttpResponseBase | None:
    """The response for stored object `name`, or None when it is missing from storage.

    `filename` passes safe_filename here whoever built it: every download's Content-Disposition does.
    `check_exists=False` skips the object store's HEAD request (previews: a list page shows dozens).
    """
    filename = safe_filename(filename, fallback="download")
    storage = storages["default"]
    signed_url = getattr(storage, "signed_url", None)
    if signed_url is not None:
        if check_exists and not storage.exists(name):
            logger.error("stored object %s is missing from storage", name)
            return None
        return HttpResponseRedirect(
            signed_url(name, filename=filename, content_type=content_type, as_attachment=as_attachment)
        )
    try:
        handle = storage.open(name, "rb")  # never read whole: the response streams it
    except FileNotFoundError:
        logger.error("stored object %s is missing from storage", name)
        return None
    return FileResponse(handle, as_attachment=as_attachment, filename=filename, content_type=content_type)
