"""A cap on the size of an upload, checked as it streams in: past it the rest is not read nor written to disk.

Installed first in FILE_UPLOAD_HANDLERS: the CSRF check parses the form before any view runs, so a view
cannot set its own handlers. The one upload of the site is the purchase register's; 100,000 rows of it
are about 25 MB.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024


def max_upload_bytes() -> int:
    return int(getattr(settings, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def upload_too_large(request: Any) -> bool:
    """True when the request's upload was cut at the cap (its file is then missing from request.FILES)."""
    return bool(getattr(request, "upload_too_large", False))


class UploadSizeLimit(FileUploadHandler):
    """Stops the upload once its body passes max_upload_bytes(), and says so on the request."""

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        self.received = 0  # the form's other fields (the CSRF token) are still read: the view can say why

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > max_upload_bytes():
            self._stop()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _stop(self) -> None:
        if self.request is not None:
            setattr(self.request, "upload_too_large", True)  # noqa: B010 (HttpRequest declares no such attribute)
        raise StopUpload(connection_reset=True)  # the rest of the body is neither read nor stored
