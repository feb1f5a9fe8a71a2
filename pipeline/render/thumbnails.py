"""First-page PNG thumbnail of a PDF, rendered with PDFium (pypdfium2).

Plain Python: no Django, no Dramatiq. Failures that retrying cannot fix (not a PDF,
encrypted, damaged, no pages, absurd page size) raise RenderError with a reason a
person can read; OSError (file missing, disk) propagates untouched.

`pdf_thumbnail` (pipeline/render/calls.py, which loads none of this) renders in the sandbox's
child process (pipeline/sandbox.py), which opens the file by path: a PDF that makes PDFium
allocate gigabytes or spin for minutes costs that child its memory, CPU or wall-clock limit and
is a RenderError saying which; the worker never feels it.

PDFium is not thread-safe, so every pypdfium2 call in a process runs under the one
module-level ``_PDFIUM_LOCK``; every document, page and bitmap is closed explicitly
under that lock (never left to the garbage collector, which could run elsewhere).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .calls import RenderError, pdf_thumbnail

try:
    from PIL import Image, ImageChops
except ImportError:  # pragma: no cover - Pillow comes with reportlab; fallback below
    Image = None  # type: ignore[assignment]

__all__ = ["RenderError", "first_page_png", "pdf_data_png", "pdf_thumbnail"]

#: Serialises every pypdfium2 call in the process (PDFium is not thread-safe).
_PDFIUM_LOCK = threading.Lock()

_SNIFF_WINDOW = 1024  # readers accept %PDF- within the first 1024 bytes, %%EOF within the last
_MAX_PAGE_PT = 14400.0  # 200 inches: the largest page the PDF specification allows
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LOAD_ERRORS = {
    pdfium_c.FPDF_ERR_SUCCESS: "nothing (no reason given)",
    pdfium_c.FPDF_ERR_UNKNOWN: "unknown error",
    pdfium_c.FPDF_ERR_FORMAT: "data format error (not a PDF or damaged beyond repair)",
}
_LOOKS_LIKE = [
    (_PNG_SIGNATURE, "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"<?xml", "an XML document"),
    (b"\xef\xbb\xbf<", "an XML document"),
    (b"<", "XML or HTML"),
]


def first_page_png(path: str, max_width: int, max_height: int) -> bytes:
    """The thumbnail, rendered in this process (the sandbox's child runs this)."""
    _check_pdf_file(path)
    with _PDFIUM_LOCK:
        width, height, stride, pixels = _render_first_page(path, max_width, max_height)
    return _encode_png(width, height, stride, pixels)


def pdf_data_png(data: bytes, *, max_width: int = 320, max_height: int = 420) -> bytes:
    """The thumbnail of a PDF held in memory, rendered in this process: one just drawn here (a printable)."""
    with _PDFIUM_LOCK:
        width, height, stride, pixels = _render_first_page(data, max_width, max_height)
    return _encode_png(width, height, stride, pixels)


def _check_pdf_file(path: str) -> None:
    """Refuse files that are not PDFs, or that were cut short, before PDFium sees them."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_WINDOW + 5)
        if b"%PDF-" not in head:
            raise RenderError(f"not a PDF ({_describe(head)})")
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _SNIFF_WINDOW))
        if b"%%EOF" not in handle.read():
            raise RenderError(f"the PDF is damaged: no %%EOF in its last {_SNIFF_WINDOW} bytes (truncated?)")


def _describe(head: bytes) -> str:
    if not head:
        return "the file is empty"
    stripped = head.lstrip(b" \t\r\n")
    for signature, kind in _LOOKS_LIKE:
        if stripped.startswith(signature):
            return f"the file starts with the signature of {kind}"
    return f"the file starts with {head[:16]!r}"


def _render_first_page(source: str | bytes, max_width: int, max_height: int) -> tuple[int, int, int, bytes]:
    """Open (a path, or the PDF's bytes), measure, render and close; the caller holds _PDFIUM_LOCK. Returns RGB rows."""
    # Load through the raw API: pypdfium2's PdfDocument(path) reports a document with no
    # pages as a load failure carrying PDFium's *previous* (stale) error code.
    if isinstance(source, bytes):  # PDFium reads it in place: `source` outlives the document, closed below
        raw = pdfium_c.FPDF_LoadMemDocument64(source, len(source), None)
    else:
        raw = pdfium_c.FPDF_LoadDocument(os.fsencode(source) + b"\x00", None)
    if not raw:
        error = pdfium_c.FPDF_GetLastError()  # set by every failed load: fresh here
        if error == pdfium_c.FPDF_ERR_PASSWORD:
            raise RenderError("the PDF is encrypted (password protected)")
        if error == pdfium_c.FPDF_ERR_SECURITY:
            raise RenderError("the PDF is encrypted with a scheme PDFium does not support")
        if error == pdfium_c.FPDF_ERR_FILE:
            raise OSError("PDFium could not open the file")
        raise RenderError(f"the PDF is damaged: PDFium says {_LOAD_ERRORS.get(error, f'error {error}')}")
    document = pdfium.PdfDocument(raw)
    page = bitmap = None
    try:
        if len(document) < 1:
            raise RenderError("the PDF has no pages")
        page = document[0]
        page_w, page_h = page.get_size()  # points, after the page's /Rotate
        if not (0 < page_w <= _MAX_PAGE_PT and 0 < page_h <= _MAX_PAGE_PT):
            raise RenderError(f"page size {page_w:g} x {page_h:g} pt is absurd; not rendered")
        # pypdfium2 sizes the bitmap as ceil(points * scale): shave a hair off the scale
        # so float rounding can never push it one pixel past the box.
        scale = min(max_width / page_w, max_height / page_h) * (1 - 1e-9)
        bitmap = page.render(scale=scale, force_bitmap_format=pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
        if bitmap.width > max_width or bitmap.height > max_height:  # cannot happen; never ship it
            raise RenderError(f"bitmap {bitmap.width} x {bitmap.height} exceeds the box; not rendered")
        return bitmap.width, bitmap.height, bitmap.stride, bytes(bitmap.buffer)
    except pdfium.PdfiumError as exc:
        raise RenderError(f"the PDF is damaged: {exc}") from exc
    finally:
        for obj in (bitmap, page, document):
            if obj is not None:
                obj.close()


def _encode_png(width: int, height: int, stride: int, rgb: bytes) -> bytes:
    """PNG from RGB rows of `stride` bytes: each row but the first filtered Up (less the row above), deflated at level 1.

    Pillow's own encoder tries the five filters on each row: twice the time for a page's thumbnail, for
    some 5% fewer bytes. Up alone keeps a scan or photo as small (no filter makes it two thirds larger).
    Pillow subtracts the rows (the bitmap seen as bytes, one row less, against itself); without Pillow
    the rows go unfiltered.
    """
    row = width * 3
    if Image is not None and height > 1:
        below = Image.frombytes("L", (stride, height - 1), rgb[stride : stride * height])
        above = Image.frombytes("L", (stride, height - 1), rgb[: stride * (height - 1)])
        up = ImageChops.subtract_modulo(below, above).tobytes()
        raw = b"\x00" + rgb[:row] + b"".join(b"\x02" + up[y * stride : y * stride + row] for y in range(height - 1))
    else:
        raw = b"".join(b"\x00" + rgb[y * stride : y * stride + row] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return _PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")
