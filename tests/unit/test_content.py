import pytest

from pipeline.content import MAX_FILENAME_LENGTH, safe_filename, sniff_content_type


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("factura.pdf", "factura.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/absolute/path/dte.xml", "dte.xml"),
        ("C:\\Users\\x\\dte.xml", "dte.xml"),
        ('evil"\r\nX-Injected: 1.pdf', "evil___X-Injected_ 1.pdf"),
        ("nul\x00byte.pdf", "nul_byte.pdf"),
        ("..", "fallback"),
        ("", "fallback"),
        (".hidden.pdf", "hidden.pdf"),
        ("Factura Ñuñoa.pdf", "Factura Ñuñoa.pdf"),
    ],
)
def test_safe_filename(raw, expected):
    assert safe_filename(raw, fallback="fallback") == expected


def test_safe_filename_keeps_the_extension_of_a_long_name():
    name = safe_filename("a" * 300 + ".pdf", fallback="x")
    assert len(name) == MAX_FILENAME_LENGTH and name.endswith(".pdf")


@pytest.mark.parametrize(
    ("head", "declared", "filename", "expected"),
    [
        (b"%PDF-1.7\n", "application/octet-stream", "x.bin", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "application/pdf", "factura.pdf", "image/png"),
        (b"<?xml version='1.0'?><DTE/>", "application/octet-stream", "dte", "application/xml"),
        (b"\xef\xbb\xbf<?xml version='1.0'?>", "text/plain", "dte.txt", "application/xml"),
        (b"hello", "text/plain; charset=utf-8", "a.txt", "text/plain"),
        (b"hello", "application/octet-stream", "notes.txt", "text/plain"),
        (b"\x00\x01", "", "blob", "application/octet-stream"),
    ],
)
def test_sniff_content_type_believes_the_bytes_first(head, declared, filename, expected):
    assert sniff_content_type(head, declared=declared, filename=filename) == expected
