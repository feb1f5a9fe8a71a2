"""What the worker and the web call to draw: each drawing runs in the sandbox's child process.

Light on purpose: no PDFium, Pillow or reportlab in the process that calls (about 12 MB). The
child imports them with pipeline/render/thumbnails.py and printable.py; what it raises is
defined here, so an answer that holds a failure loads nothing heavy where it is read either.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pipeline import sandbox

if TYPE_CHECKING:
    from pipeline.dte.model import ParsedDocument


class RenderError(Exception):
    """A permanent rendering failure, with a reason a person can read. Retrying will not help."""


class PrintableError(ValueError):
    """The document cannot be printed (e.g. its TED is too large for a PDF417)."""


def pdf_thumbnail(pdf_path: str | os.PathLike[str], *, max_width: int = 320, max_height: int = 420) -> bytes:
    """PNG bytes of the PDF's first page, scaled to fit max_width x max_height (aspect kept).

    Rendered in the sandbox, which opens the file by path: the document is never read whole
    into the worker's memory. A limit the PDF goes over is a RenderError.
    """
    if max_width < 1 or max_height < 1:
        raise ValueError(f"thumbnail box must be at least 1 x 1, got {max_width} x {max_height}")
    try:
        return sandbox.run(
            _first_page_png, os.fspath(pdf_path), max_width, max_height, task="drawing the PDF's first page"
        )
    except sandbox.SandboxError as exc:
        raise RenderError(f"{exc}; not rendered") from None


def printable_pdf(doc: ParsedDocument) -> bytes:
    """The printable PDF of one parsed DTE, drawn in the sandbox; over a limit it is a PrintableError."""
    try:
        return sandbox.run(_draw_printable, doc, task="drawing the printable PDF")
    except sandbox.SandboxError as exc:
        raise PrintableError(f"{exc}; not printed") from None


def printable_pdf_and_thumbnail(doc: ParsedDocument) -> tuple[bytes, bytes]:
    """The printable PDF of one parsed DTE and its first page's PNG thumbnail, both drawn in one sandbox call.

    Over a limit it is a PrintableError; a printable PDFium cannot draw (never seen) is a RenderError.
    """
    try:
        return sandbox.run(_draw_printable_and_thumbnail, doc, task="drawing the printable PDF")
    except sandbox.SandboxError as exc:
        raise PrintableError(f"{exc}; not printed") from None


def _first_page_png(path: str, max_width: int, max_height: int) -> bytes:
    from .thumbnails import first_page_png

    return first_page_png(path, max_width, max_height)


def _draw_printable(doc: ParsedDocument) -> bytes:
    from .printable import draw_printable

    return draw_printable(doc)


def _draw_printable_and_thumbnail(doc: ParsedDocument) -> tuple[bytes, bytes]:
    from .printable import draw_printable_and_thumbnail

    return draw_printable_and_thumbnail(doc)
