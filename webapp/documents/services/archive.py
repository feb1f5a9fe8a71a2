"""A ZIP of documents streamed as it is built: never the whole archive in memory.

zipfile writes into a small buffer that is drained after every chunk; the stored files
are read from storage in chunks too. Per document `<type>-<folio>-<issuer RUT>.xml`, `…-proveedor.pdf`
(the supplier's PDF) and `…-impreso.pdf` (our printable), from validated fields only (document_name_parts).
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.core.files.storage import storages
from django.utils import timezone

from webapp.inbox.models import Attachment

from ..models import Document
from .printable_requests import PrintableNotNow, document_printable

logger = logging.getLogger(__name__)

#: A RUT as pipeline/dte/rut.py normalises it: the only text from the XML that may name a file.
_RUT_NAME = re.compile(r"[0-9]{1,9}-[0-9K]")
#: The folder of documents whose issuer RUT is not a RUT.
NO_RUT_FOLDER = "sin-rut"
#: What follows the stem in the name of the supplier's own PDF, and of the printable we made.
SUPPLIER_PDF_SUFFIX = "proveedor"
PRINTABLE_SUFFIX = "impreso"

#: Bytes read from storage per step (and so, about the largest chunk handed to the server).
CHUNK_SIZE = 256 * 1024


class _Drain:
    """A write-only, non-seekable file for zipfile; `take()` empties it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        if data:
            self._parts.append(bytes(data))
            self._offset += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks for the offset of each entry
        return self._offset

    def flush(self) -> None:
        pass

    def close(self) -> None:  # zipfile never closes a file it was handed; the protocol asks for it
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def document_name_parts(document: Document) -> tuple[str, str]:
    """(folder, stem) that name a document's files in archives and downloads: validated fields only.

    The type and the folio are integers; the issuer RUT is the normalised RUT when the XML held
    one (`33-170-76354771-K`, no folder), else the sender's text (pipeline/dte/rut.py), which never
    names a file: such a document goes under sin-rut, with its id so that two of them never take one name.
    """
    stem = f"{int(document.doc_type)}-{int(document.folio)}"
    if _RUT_NAME.fullmatch(document.issuer_rut or ""):
        return "", f"{stem}-{document.issuer_rut}"
    return NO_RUT_FOLDER, f"{stem}-{document.pk}"


def document_files(document: Document, stem: str | None = None) -> list[tuple[str, str]]:
    """(archive name, storage name) of a document's files: its XML, the supplier's PDF, our printable.

    `stem` replaces the name document_name_parts gives (a second document of one name).
    """
    folder, own_stem = document_name_parts(document)
    base = "/".join(part for part in (folder, stem or own_stem) if part)
    files = []
    if (xml_name := _stored_name(document.xml_attachment)) is not None:
        files.append((f"{base}.xml", xml_name))
    if (pdf_name := _stored_name(document.pdf_attachment)) is not None:
        files.append((f"{base}-{SUPPLIER_PDF_SUFFIX}.pdf", pdf_name))
    if document.printable_status == Document.PrintableStatus.READY and document.printable_name:
        files.append((f"{base}-{PRINTABLE_SUFFIX}.pdf", document.printable_name))
    return files


def _with_printable(document: Document) -> Document:
    """The document with its printable made now if it was to be made on request: the ZIP holds it all the same.

    One that cannot be made is left out of the ZIP (its page says why), as a missing file is."""
    try:
        return document_printable(document=document)
    except PrintableNotNow as exc:
        logger.error("printable of document %s not made now; left out of the ZIP: %s", document.pk, exc)
        return document


def _stored_name(attachment: Attachment | None) -> str | None:
    """The storage name of an attachment's content; None without one (no query for an empty relation)."""
    if attachment is None or attachment.blob is None:
        return None
    return attachment.blob.storage_name


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    local = timezone.localtime(moment)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def stream_zip(documents: Iterable[Document]) -> Iterator[bytes]:
    """The archive's bytes, chunk by chunk. A file missing from storage is skipped and logged."""
    storage = storages["default"]
    sink = _Drain()
    stems: set[tuple[str, str]] = set()
    with zipfile.ZipFile(sink, mode="w", allowZip64=True) as archive:
        for document in documents:
            folder, stem = document_name_parts(document)
            if (folder, stem) in stems:  # another mailbox's document of one (issuer, type, folio)
                stem = f"{stem}-{document.pk}"
            stems.add((folder, stem))
            document = _with_printable(document)
            for arcname, storage_name in document_files(document, stem):
                try:
                    source = storage.open(storage_name, "rb")
                except FileNotFoundError:
                    logger.error(
                        "stored object %s of document %s is missing; left out of the ZIP", storage_name, document.pk
                    )
                    continue
                info = zipfile.ZipInfo(arcname, date_time=_zip_time(document.created_at))
                # PDFs hardly compress: store them; XML shrinks a lot.
                info.compress_type = zipfile.ZIP_DEFLATED if arcname.endswith(".xml") else zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                with source, archive.open(info, mode="w", force_zip64=True) as entry:
                    while chunk := source.read(CHUNK_SIZE):
                        entry.write(chunk)
                        if data := sink.take():
                            yield data
                if data := sink.take():
                    yield data
    if data := sink.take():
        yield data
