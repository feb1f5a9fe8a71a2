"""The "representación impresa" of a DTE: a printable PDF made with reportlab.

Plain Python: no Django, no Dramatiq. The output is byte-stable for the same document
(reportlab's invariant mode), so a hash-derived name stays the same on every re-render.
Layout, top to bottom: issuer (left) and the red box with RUT, type name and folio
(right); receiver; terms (currency, payment, due date, instalments, transfer kind); detail
lines with their description and adjustments under them; references; the totals
(printable_totals.py) on the right, and the TED as a PDF417 barcode with
"Timbre Electrónico SII" and the resolution under it at the bottom left. Amounts are in the
document's own currency. It prints what the XML says, never our checks of its sums.

`printable_pdf` (pipeline/render/calls.py, which loads none of this) draws in the sandbox's child
process (pipeline/sandbox.py): a document of 100,000 lines costs that child its memory or CPU
cap, never the worker. `printable_pdf_and_thumbnail` (calls.py too) draws the thumbnail there, from the PDF
still in the child's memory: one call, no file.
"""

from __future__ import annotations

import io
import threading

from PIL import Image, ImageOps
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from pipeline.dte.formatting import dmy as _date
from pipeline.dte.formatting import money
from pipeline.dte.kinds import DOC_TYPES
from pipeline.dte.model import ParsedDocument, ParsedLine
from pipeline.dte.rut import format_rut
from pipeline.dte.values import ascii_digits
from pipeline.render.pdf417 import pdf417_codes
from pipeline.render.printable_text import (
    DESCRIPTION_LINES,
    instalments,
    line_adjustments,
    line_suffix,
    terms,
    unit_price,
)
from pipeline.render.printable_totals import totals_rows
from pipeline.render.thumbnails import pdf_data_png

from .calls import PrintableError, printable_pdf

__all__ = [
    "PDF417_COLUMNS",
    "PDF417_SECURITY_LEVEL",
    "PrintableError",
    "draw_printable",
    "draw_printable_and_thumbnail",
    "printable_pdf",
]

#: reportlab keeps module-level caches; one rendering at a time per process.
_RENDER_LOCK = threading.Lock()

#: PDF417 as the SII asks: error correction level 5; 18 data columns keep it short and about 9 cm wide.
PDF417_COLUMNS = 18
PDF417_SECURITY_LEVEL = 5
#: A module of the barcode, as a grey level: "1" a bar (black), "0" a space (white).
_MODULE_SHADES = str.maketrans({"1": "\x00", "0": "\xff"})

_MARGIN = 36
_RED = colors.HexColor("#c00000")
_LINE_HEIGHT = 13
#: Below this the flowing parts (terms, lines, references) go on to a new page: the totals and the timbre
#: of the last page need the room.
_FLOW_FLOOR = 200
#: Columns of the lines, in points left of the right edge.
_QUANTITY_RIGHT = 235
_QUANTITY_WIDTH = 55
_UNIT_X = 228
_UNIT_WIDTH = 40
_PRICE_RIGHT = 95
#: What is printed under a line (its DscItem, discounts, surcharges) is smaller and grey.
_DETAIL_SIZE = 7.5
_DETAIL_HEIGHT = 10
_DETAIL_GREY = colors.HexColor("#444444")
_DESCRIPTION_CHARS = 2000
#: The totals block: labels start this many points left of the right margin, clear of the timbre.
_TOTALS_WIDTH = 260
_TIMBRE_WIDTH = 260


def ted_barcode_image(ted: bytes) -> Image.Image:
    """The TED as a PDF417 (bytes fed as-is: they are ISO-8859-1 already): 2 pixels per module, rows 3 modules
    high, 4 pixels of quiet zone; grey-scale, drawn from the code words in one go (pdf417gen's own renderer sets
    each pixel of an RGB image from Python, and a PNG of it was encoded and decoded again)."""
    try:
        codes = pdf417_codes(ted, columns=PDF417_COLUMNS, security_level=PDF417_SECURITY_LEVEL)
    except ValueError as exc:
        raise PrintableError(f"the TED does not fit a PDF417: {exc}") from exc
    rows = ["".join(format(word, "b") for word in row) for row in codes]  # every code word starts with a bar
    width, height = len(rows[0]), len(rows)
    modules = Image.frombytes("L", (width, height), "".join(rows).translate(_MODULE_SHADES).encode("latin-1"))
    image = modules.resize((2 * width, 2 * 3 * height), resample=Image.Resampling.NEAREST)
    return ImageOps.expand(image, 4, fill=255)


def draw_printable_and_thumbnail(doc: ParsedDocument) -> tuple[bytes, bytes]:
    """The printable PDF and its thumbnail, drawn in this process from the PDF in memory (the sandbox's child runs this)."""
    pdf = draw_printable(doc)
    return pdf, pdf_data_png(pdf)


def draw_printable(doc: ParsedDocument) -> bytes:
    """The printable PDF, drawn in this process (the sandbox's child runs this)."""
    barcode = ted_barcode_image(doc.ted) if doc.ted else None
    with _RENDER_LOCK:
        # Streams are compressed, not also ASCII85-encoded: reportlab does that in pure Python (without its
        # optional C accelerator), and it was the larger part of drawing a page. A PDF may hold binary streams.
        a85, rl_config.useA85 = rl_config.useA85, 0
        try:
            return _Printer(doc, barcode).render()
        finally:
            rl_config.useA85 = a85


class _Printer:
    def __init__(self, doc: ParsedDocument, barcode: Image.Image | None) -> None:
        self.doc = doc
        self.barcode = barcode
        self.buffer = io.BytesIO()
        self.pdf = canvas.Canvas(self.buffer, pagesize=LETTER, invariant=True, pageCompression=1)
        self.width, self.height = LETTER
        self.page = 1

    def render(self) -> bytes:
        doc, pdf = self.doc, self.pdf
        pdf.setTitle(f"{doc.type_name} N° {doc.folio} - {doc.issuer_name}")
        pdf.setAuthor(doc.issuer_name)
        pdf.setSubject(f"Representación impresa {doc.issuer_rut} {doc.doc_type}-{doc.folio}")
        y = self._header()
        y = self._receiver(y)
        y = self._terms(y)
        y = self._lines(y)
        y = self._references(y)
        self._footer(y)
        pdf.showPage()
        pdf.save()
        return self.buffer.getvalue()

    def _text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 9,
        bold: bool = False,
        max_chars: int = 0,
        width: float = 0,
    ) -> None:
        font = "Helvetica-Bold" if bold else "Helvetica"
        self.pdf.setFont(font, size)
        if max_chars and len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        self.pdf.drawString(x, y, _fit(text, width, font, size) if width else text)

    def _header(self) -> float:
        doc, pdf = self.doc, self.pdf
        top = self.height - _MARGIN
        box_w, box_h = 210, 84
        box_x = self.width - _MARGIN - box_w
        pdf.setStrokeColor(_RED)
        pdf.setFillColor(_RED)
        pdf.setLineWidth(2)
        pdf.rect(box_x, top - box_h, box_w, box_h)
        center = box_x + box_w / 2
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawCentredString(center, top - 22, f"R.U.T.: {format_rut(doc.issuer_rut)}")
        name = doc.type_name.upper()
        pdf.setFont("Helvetica-Bold", 11 if len(name) <= 30 else 8)
        pdf.drawCentredString(center, top - 44, name)
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawCentredString(center, top - 66, f"N° {doc.folio}")
        pdf.setFillColor(colors.black)
        pdf.setStrokeColor(colors.black)
        pdf.setLineWidth(0.5)
        self._text(_MARGIN, top - 14, doc.issuer_name, size=13, bold=True, max_chars=48)
        self._text(_MARGIN, top - 30, doc.issuer_activity, max_chars=70)
        self._text(_MARGIN, top - 43, doc.issuer_address, max_chars=70)
        self._text(_MARGIN, top - 56, f"Fecha de emisión: {_date(doc.issue_date)}")
        if not doc.issuer_rut_valid:
            pdf.setFillColor(_RED)
            self._text(_MARGIN, top - 69, f"RUT del emisor inválido: {doc.issuer_rut_error}", size=8, max_chars=90)
            pdf.setFillColor(colors.black)
        return top - box_h - 18

    def _receiver(self, y: float) -> float:
        doc = self.doc
        self.pdf.rect(_MARGIN, y - 48, self.width - 2 * _MARGIN, 54)
        self._text(_MARGIN + 6, y - 8, "Señor(es):", bold=True)
        self._text(_MARGIN + 80, y - 8, doc.receiver_name, max_chars=60)
        self._text(_MARGIN + 6, y - 21, "R.U.T.:", bold=True)
        self._text(_MARGIN + 80, y - 21, format_rut(doc.receiver_rut))
        self._text(_MARGIN + 6, y - 34, "Giro:", bold=True)
        self._text(_MARGIN + 80, y - 34, doc.receiver_activity, max_chars=60)
        self._text(_MARGIN + 6, y - 47 + 2, "Dirección:", bold=True)
        self._text(_MARGIN + 80, y - 47 + 2, doc.receiver_address, max_chars=80)
        return y - 66

    def _columns(self, y: float) -> None:
        self.pdf.setFillColor(colors.HexColor("#eeeeee"))
        self.pdf.rect(_MARGIN, y - 4, self.width - 2 * _MARGIN, _LINE_HEIGHT + 2, fill=1, stroke=0)
        self.pdf.setFillColor(colors.black)
        right = self.width - _MARGIN - 4
        self._text(_MARGIN + 4, y, "Descripción", bold=True)
        self._text(right - _UNIT_X, y, "Unidad", bold=True)
        self.pdf.setFont("Helvetica-Bold", 9)
        self.pdf.drawRightString(right - _QUANTITY_RIGHT, y, "Cantidad")
        self.pdf.drawRightString(right - _PRICE_RIGHT, y, "Precio")
        self.pdf.drawRightString(right, y, "Monto")

    def _new_page(self) -> float:
        self.pdf.setFont("Helvetica", 8)
        self.pdf.drawRightString(self.width - _MARGIN, _MARGIN / 2, f"continúa en la página {self.page + 1}")
        self.pdf.showPage()
        self.page += 1
        y = self.height - _MARGIN - 10
        self._text(
            _MARGIN,
            y,
            f"{self.doc.type_name} N° {self.doc.folio} - {format_rut(self.doc.issuer_rut)} (página {self.page})",
            bold=True,
        )
        return y - 24

    def _terms(self, y: float) -> float:
        """Currency, payment form, due date, transfer kind and instalments, under the receiver."""
        doc = self.doc
        rows = [(text, False, 0) for text in terms(doc)]
        if doc.payments:
            rows.append(("Pagos:", True, 0))
            rows += [(text, False, 12) for text in instalments(doc)]
        for text, bold, indent in rows:
            if y < _FLOW_FLOOR:
                y = self._new_page()
            self._text(_MARGIN + indent, y, text, bold=bold, width=self.width - 2 * _MARGIN - indent)
            y -= _LINE_HEIGHT
        return y - 8 if rows else y

    def _lines(self, y: float) -> float:
        self._columns(y)
        y -= _LINE_HEIGHT + 4
        right = self.width - _MARGIN - 4
        currency = self.doc.currency
        tax_names = {tax.code: tax.name for tax in self.doc.taxes if tax.name}
        name_width = right - _QUANTITY_RIGHT - _QUANTITY_WIDTH - _MARGIN - 8
        detail_width = right - _MARGIN - 12
        for line in self.doc.lines:
            details = self._details(line, currency, tax_names, detail_width)
            if y - _DETAIL_HEIGHT * len(details) < _FLOW_FLOOR:
                y = self._new_page()
                self._columns(y)
                y -= _LINE_HEIGHT + 4
            suffix = line_suffix(line)
            name = _fit(line.name, name_width - self.pdf.stringWidth(suffix, "Helvetica", 9), "Helvetica", 9)
            self._text(_MARGIN + 4, y, name + suffix)
            self._text(right - _UNIT_X, y, line.unit, width=_UNIT_WIDTH)
            self.pdf.setFont("Helvetica", 9)
            self.pdf.drawRightString(right - _QUANTITY_RIGHT, y, _fit(line.quantity, _QUANTITY_WIDTH, "Helvetica", 9))
            self.pdf.drawRightString(right - _PRICE_RIGHT, y, unit_price(line.unit_price, currency))
            self.pdf.drawRightString(right, y, money(line.amount, currency))
            y -= _LINE_HEIGHT
            self.pdf.setFillColor(_DETAIL_GREY)
            for detail in details:
                self._text(_MARGIN + 12, y + 2, detail, size=_DETAIL_SIZE)
                y -= _DETAIL_HEIGHT
            self.pdf.setFillColor(colors.black)
        self.pdf.line(_MARGIN, y + 6, self.width - _MARGIN, y + 6)
        return y - 10

    def _details(self, line: ParsedLine, currency: str, tax_names: dict[int, str], width: float) -> list[str]:
        """The DscItem (up to DESCRIPTION_LINES lines, then cut) and the adjustments of one line."""
        details = []
        description = line.description.strip()
        if description and description != line.name.strip():
            split = simpleSplit(description[:_DESCRIPTION_CHARS], "Helvetica", _DETAIL_SIZE, width)
            details = split[:DESCRIPTION_LINES]
            if len(split) > DESCRIPTION_LINES or len(description) > _DESCRIPTION_CHARS:
                details[-1] = _fit(details[-1] + " …", width, "Helvetica", _DETAIL_SIZE)
        adjustments = line_adjustments(line, currency, tax_names)
        if adjustments:
            details.append(_fit(adjustments, width, "Helvetica", _DETAIL_SIZE))
        return details

    def _references(self, y: float) -> float:
        if not self.doc.references:
            return y
        self._text(_MARGIN, y, "Referencias:", bold=True)
        y -= _LINE_HEIGHT
        for ref in self.doc.references:
            if y < 200:
                y = self._new_page()
            kind = (
                DOC_TYPES.get(int(ref.ref_type), f"Doc. tipo {ref.ref_type}")
                if ascii_digits(ref.ref_type)
                else ref.ref_type
            )
            text = f"{kind} N° {ref.ref_folio} del {_date(ref.ref_date)}"
            if ref.reason:
                text += f" - {ref.reason}"
            self._text(_MARGIN + 8, y, text, max_chars=110)
            y -= _LINE_HEIGHT
        return y - 6

    def _footer(self, y: float) -> None:
        """The totals on the right (paginated when they are many), then the timbre at the bottom left."""
        pdf = self.pdf
        if y < _FLOW_FLOOR:
            y = self._new_page()
        right = self.width - _MARGIN
        ty = y - 4
        page = self.page
        for row in totals_rows(self.doc):
            if ty < _MARGIN + 10:
                ty = self._new_page()
            if not row.label:
                ty -= 6
                continue
            font = "Helvetica-Bold" if row.bold else "Helvetica"
            pdf.setFont(font, 10)
            pdf.drawRightString(right, ty, row.amount)
            label_width = max(60.0, _TOTALS_WIDTH - pdf.stringWidth(row.amount, font, 10) - 8)
            self._text(right - _TOTALS_WIDTH, ty, row.label, size=10, bold=row.bold, width=label_width)
            ty -= 15
        if self.barcode is None:
            self._no_timbre()
            return
        image = ImageReader(self.barcode)
        iw, ih = image.getSize()
        width = _TIMBRE_WIDTH
        height = width * ih / iw
        bottom = _MARGIN + 30
        if self.page == page and bottom + height + 10 > y:  # the lines or references reach where it goes
            self._new_page()
        pdf.drawImage(image, _MARGIN, bottom, width=width, height=height)
        pdf.setFont("Helvetica-Bold", 8)
        center = _MARGIN + width / 2
        pdf.drawCentredString(center, bottom - 10, "Timbre Electrónico SII")
        pdf.setFont("Helvetica", 7)
        doc = self.doc
        resolution = f"Res. {doc.resolution_number if doc.resolution_number is not None else '-'}"
        resolution += f" de {doc.resolution_date.year}" if doc.resolution_date else ""
        pdf.drawCentredString(center, bottom - 20, f"{resolution} - Verifique documento: www.sii.cl")

    def _no_timbre(self) -> None:
        self.pdf.setFillColor(_RED)
        self._text(
            _MARGIN,
            _MARGIN + 40,
            "Documento sin Timbre Electrónico (TED): no válido como representación impresa",
            size=8,
            bold=True,
        )
        self.pdf.setFillColor(colors.black)


def _fit(text: str, width: float, font: str, size: float) -> str:
    """`text` cut with "…" to `width` points."""
    if stringWidth(text, font, size) <= width:
        return text
    text = text[: int(width / (size * 0.15)) + 1]  # no glyph is narrower than 0.15 em: a bound on what fits
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"
