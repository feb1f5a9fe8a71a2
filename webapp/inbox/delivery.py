"""Answer a download from storage: a redirect to a short-lived signed URL on an object store
(the bytes never pass through the web process), else the file streamed from disk."""

from __future__ import annotations

import logging

from django.core.files.storage import storages
from django.http import FileResponse, HttpResponse, HttpResponseRedirect

logger = logging.getLogger(__name__)


def stored_response(name: str, *, filename: str, content_type: str, as_attachment: bool = True,
                    check_exists: bool = True) -> HttpResponse | None:
    """The response for stored object `name`, or None when it is missing from storage.

    `check_exists=False` skips the object store's HEAD request (previews: a list page shows dozens).
    """
    storage = storages["default"]
    signed_url = getattr(storage, "signed_url", None)
    if signed_url is not None:
        if check_exists and not storage.exists(name):
            logger.error("stored object %s is missing from storage", name)
            return None
        return HttpResponseRedirect(signed_url(name, filename=filename, content_type=content_type,
                                               as_attachment=as_attachment))
    try:
        handle = storage.open(name, "rb")  # never read whole: the response streams it
    except FileNotFoundError:
        logger.error("stored object %s is missing from storage", name)
        return None
    return FileResponse(handle, as_attachment=as_attachment, filename=filename, content_type=content_type)
