"""S3 and S3-compatible object stores (`STORAGE_BACKEND=s3`), loaded only when configured.

django-storages' S3Storage uploads with boto3's `upload_fileobj`, which streams the spooled
temp file and switches to a multipart upload past `multipart_threshold`. boto3's default
transfer runs 10 threads of 8 MB parts: up to 80 MB in flight per upload. A worker on a
small plan keeps `S3_UPLOAD_CONCURRENCY` (2) parts in flight instead.

Downloads never pass through the web process: `signed_url` gives a short-lived URL
(`AWS_QUERYSTRING_EXPIRE`, 300 s) that makes the object store answer with the original
filename (ResponseContentDisposition) and our content type.
"""

from __future__ import annotations

from typing import Any

from boto3.s3.transfer import TransferConfig
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage as _S3Storage

from . import config

#: Size of one multipart part, and the size from which an upload is multipart (S3's minimum part is 5 MB).
PART_BYTES = 8 * 1024 * 1024
#: The most of one downloaded object kept in memory (previews, XML parsing, ZIP archives read objects).
MEMORY_BYTES = 1024 * 1024


class S3Storage(_S3Storage):
    """S3Storage with a small-memory transfer and signed, filename-carrying download URLs."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault(
            "transfer_config",
            TransferConfig(
                multipart_threshold=PART_BYTES,
                multipart_chunksize=PART_BYTES,
                max_concurrency=config.get("S3_UPLOAD_CONCURRENCY"),
                use_threads=True,
            ),
        )
        # S3File downloads a whole object into a SpooledTemporaryFile whose default limit (0) never
        # rolls over to disk: a 150 MB PDF would sit in memory. Past MEMORY_BYTES it goes to a temp file.
        settings.setdefault("max_memory_size", MEMORY_BYTES)
        super().__init__(**settings)

    def signed_url(
        self, name: str, *, filename: str, content_type: str, as_attachment: bool = True, expire: int | None = None
    ) -> str:
        """A presigned GET of `name` whose response carries `filename` and `content_type`."""
        disposition = content_disposition_header(as_attachment, filename)
        url: str = self.url(
            name,
            parameters={"ResponseContentDisposition": disposition, "ResponseContentType": content_type},
            expire=expire,
        )
        return url
