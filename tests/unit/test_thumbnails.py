import io
import os
import struct
import threading
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from pipeline.render import thumbnails
from pipeline.render.thumbnails import RenderError, pdf_thumbnail

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_pdf(path: Path, *, pagesize=A4, pages=1, encrypt=None, black_after_first=False) -> Path:
    c = canvas.Canvas(str(path), pagesize=pagesize, encrypt=encrypt)
    width, height = pagesize
    for number in range(pages):
        if black_after_first and number > 0:
            c.rect(0, 0, width, height, fill=1)
        else:
            c.setFont("Helvetica-Bold", 36)
            c.drawString(40, height - 80, "FACTURA ELECTRONICA")
            c.rect(40, height - 300, 200, 150, fill=1)
            c.setFont("Helvetica", 12)
            for line in range(20):
                c.drawString(40, height - 340 - 18 * line, f"Item {line}  1 x $ {line * 1000}")
        c.showPage()
    c.save()
    return path


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def dark_pixels(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("L")
    return sum(image.histogram()[:100])


@pytest.fixture
def invoice(tmp_path) -> Path:
    return make_pdf(tmp_path / "invoice.pdf")


def test_a4_invoice_renders_a_png_that_fits_the_box_and_keeps_the_aspect_ratio(invoice):
    png = pdf_thumbnail(invoice)
    width, height = png_size(png)
    assert width <= 320 and height <= 420
    assert min(320 - width, 420 - height) <= 1  # fills the box on the limiting side
    assert width / height == pytest.approx(A4[0] / A4[1], rel=0.01)
    assert dark_pixels(png) > 500  # the title and the filled box are there


def test_custom_box_and_pathlike_or_str_path(invoice):
    assert png_size(pdf_thumbnail(str(invoice), max_width=100, max_height=100))[1] <= 100
    width, height = png_size(pdf_thumbnail(invoice, max_width=1000, max_height=50))
    assert height <= 50 and width == pytest.approx(50 * A4[0] / A4[1], abs=1)
    with pytest.raises(ValueError):
        pdf_thumbnail(invoice, max_width=0)


def test_a_multi_page_pdf_renders_only_the_first_page(tmp_path, invoice):
    multi = make_pdf(tmp_path / "multi.pdf", pages=3, black_after_first=True)
    png = pdf_thumbnail(multi)
    image = Image.open(io.BytesIO(png)).convert("L")
    assert dark_pixels(png) < image.width * image.height / 4  # page 2 is all black; page 1 is not
    assert Image.open(io.BytesIO(png)).tobytes() == Image.open(io.BytesIO(pdf_thumbnail(invoice))).tobytes()


def render_here(path: Path) -> bytes:
    """The thumbnail drawn in this process, as the sandbox's child draws it: monkeypatches reach it."""
    return thumbnails.first_page_png(str(path), 320, 420)


def test_the_fallback_png_writer_matches_pillow(invoice, monkeypatch):
    with_pillow = render_here(invoice)
    monkeypatch.setattr(thumbnails, "Image", None)
    without_pillow = render_here(invoice)
    assert without_pillow != with_pillow  # really took the other path
    decoded = Image.open(io.BytesIO(without_pillow))
    decoded.load()  # verifies the CRCs and the zlib stream
    assert decoded.mode == "RGB"
    assert decoded.tobytes() == Image.open(io.BytesIO(with_pillow)).convert("RGB").tobytes()


def test_the_png_holds_the_pages_pixels_exactly(invoice):
    width, height, stride, rgb = thumbnails._render_first_page(str(invoice), 320, 420)
    decoded = Image.open(io.BytesIO(render_here(invoice)))
    assert decoded.mode == "RGB" and decoded.size == (width, height)
    assert decoded.tobytes() == Image.frombuffer("RGB", (width, height), rgb, "raw", "RGB", stride, 1).tobytes()


@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 1), (1, 5), (3, 4)])
def test_the_png_of_any_bitmap_decodes_to_it_whatever_its_row_padding(width, height):
    pixels = os.urandom(width * 3 * height)
    padded = b"".join(pixels[y * width * 3 : (y + 1) * width * 3] + b"pad" for y in range(height))
    decoded = Image.open(io.BytesIO(thumbnails._encode_png(width, height, width * 3 + 3, padded)))
    decoded.load()  # verifies the CRCs and the zlib stream
    assert decoded.tobytes() == pixels


def test_a_truncated_pdf_is_damaged(tmp_path, invoice):
    data = invoice.read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(RenderError, match="damaged"):
        pdf_thumbnail(truncated)


def test_random_bytes_behind_a_pdf_header_are_damaged(tmp_path):
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7\n" + os.urandom(4000) + b"\n%%EOF\n")  # passes the sniffing
    with pytest.raises(RenderError, match="damaged"):
        pdf_thumbnail(junk)


def test_leading_junk_before_the_header_is_tolerated(tmp_path, invoice):
    prefixed = tmp_path / "prefixed.pdf"
    prefixed.write_bytes(b"X" * 500 + invoice.read_bytes())
    assert png_size(pdf_thumbnail(prefixed))[1] <= 420


def test_an_encrypted_pdf_is_refused(tmp_path):
    locked = make_pdf(tmp_path / "locked.pdf", encrypt=StandardEncryption(userPassword="x", ownerPassword="y"))
    with pytest.raises(RenderError, match="encrypted"):
        pdf_thumbnail(locked)


def test_an_absurd_page_size_is_refused_without_allocating_a_bitmap(tmp_path):
    huge = make_pdf(tmp_path / "huge.pdf", pagesize=(100000, 100000))
    with pytest.raises(RenderError, match="absurd"):
        pdf_thumbnail(huge)


def test_an_extreme_but_legal_page_gives_a_bounded_thumbnail(tmp_path):
    strip = make_pdf(tmp_path / "strip.pdf", pagesize=(14400, 20))
    width, height = png_size(pdf_thumbnail(strip))
    assert width <= 320 and height <= 420 and width * height <= 320 * 420
    tiny = make_pdf(tmp_path / "tiny.pdf", pagesize=(2, 3))  # scaled up, still inside the box
    width, height = png_size(pdf_thumbnail(tiny))
    assert width <= 320 and height <= 420


def test_a_degenerate_media_box_is_refused_or_bounded(tmp_path, invoice):
    data = invoice.read_bytes()
    box = b"/MediaBox [ 0 0 595.2756 841.8898 ]"
    assert box in data
    for replacement in (b"/MediaBox [ 0 0 0        841.8898 ]", b"/MediaBox [ 0 0 -9e9     -9e9     ]"):
        edited = tmp_path / "edited.pdf"
        edited.write_bytes(data.replace(box, replacement))  # same length: the xref stays valid
        try:
            png = pdf_thumbnail(edited)  # PDFium substitutes US Letter for an empty box
        except RenderError as exc:
            assert "absurd" in str(exc)  # noqa: PT017 - either outcome is right; only this error is
        else:
            width, height = png_size(png)
            assert width <= 320 and height <= 420


@pytest.mark.parametrize("size", [(0.0, 842.0), (-595.0, 842.0), (595.0, 14401.0), (float("nan"), 842.0)])
def test_page_sizes_outside_the_spec_are_refused_whatever_pdfium_reports(invoice, monkeypatch, size):
    monkeypatch.setattr(pdfium.PdfPage, "get_size", lambda self: size)
    with pytest.raises(RenderError, match="absurd"):
        render_here(invoice)


def test_a_pdf_without_pages_is_refused(tmp_path):
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    empty_doc = tmp_path / "nopages.pdf"
    empty_doc.write_bytes(bytes(out))
    with pytest.raises(RenderError, match="no pages"):
        pdf_thumbnail(empty_doc)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + b"\x00" * 40, "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 40, "JPEG"),
        (b"PK\x03\x04" + b"\x00" * 40, "ZIP"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><EnvioDTE/>', "XML"),
        (b"", "empty"),
        (b"hello, this is text", "starts with"),
    ],
)
def test_files_that_are_not_pdfs_say_what_they_look_like(tmp_path, content, expected):
    fake = tmp_path / "attachment.pdf"
    fake.write_bytes(content)
    with pytest.raises(RenderError, match=f"not a PDF.*{expected}"):
        pdf_thumbnail(fake)


def test_a_missing_file_is_an_os_error_not_a_render_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        pdf_thumbnail(tmp_path / "gone.pdf")


def test_documents_pages_and_bitmaps_are_closed_on_success_and_failure(tmp_path, invoice, monkeypatch):
    closed: list[str] = []
    for cls in (pdfium.PdfDocument, pdfium.PdfPage, pdfium.PdfBitmap):
        original = cls.close

        def spy(self, *args, _original=original, _name=cls.__name__, **kwargs):
            closed.append(_name)
            assert thumbnails._PDFIUM_LOCK.locked()
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "close", spy)
    render_here(invoice)
    assert closed[:3] == ["PdfBitmap", "PdfPage", "PdfDocument"]
    closed.clear()
    with pytest.raises(RenderError):
        render_here(make_pdf(tmp_path / "huge.pdf", pagesize=(100000, 100000)))
    assert closed[:2] == ["PdfPage", "PdfDocument"]


def test_eight_threads_render_concurrently_and_agree(invoice, monkeypatch):
    original_open = pdfium.PdfDocument

    def checked_open(*args, **kwargs):
        assert thumbnails._PDFIUM_LOCK.locked(), "pypdfium2 called outside the lock"
        return original_open(*args, **kwargs)

    monkeypatch.setattr(thumbnails.pdfium, "PdfDocument", checked_open)
    barrier = threading.Barrier(8)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(5):
                results.append(render_here(invoice))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(results) == 40 and len(set(results)) == 1
