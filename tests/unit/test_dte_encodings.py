"""A file whose bytes are not the encoding it declares is read as what it is, and the file says so.

Before: UTF-8 declared ISO-8859-1 read as "DiseÃ±o" without a word; ISO-8859-1 declared UTF-8 was
refused, and undeclared it read silently.
"""

from __future__ import annotations

import pytest

from pipeline import samples
from pipeline.dte import Kind, parse_file, parse_path
from tests.support.aec_cases import CHAIN, aec_xml

NAME = "Diseño Austral SpA"
DTD_REFUSED = "the XML declares a DTD (DOCTYPE); refused: entities are never expanded or fetched"


def utf8_text(issuer_name: str = NAME) -> str:
    return samples.dte_xml(issuer_name=issuer_name, encoding="UTF-8").decode("utf-8")


def declared(text: str, label: str | None) -> str:
    """`text` with its declaration naming `label` (None: no encoding named)."""
    return text.replace(' encoding="UTF-8"', "" if label is None else f' encoding="{label}"', 1)


def expected_document():
    (document,) = parse_file(samples.dte_xml(issuer_name=NAME, encoding="ISO-8859-1")).documents
    return document


@pytest.mark.parametrize("label", ["ISO-8859-1", "iso-8859-1", "Latin-1", "latin1", "windows-1252", "cp1252"])
def test_utf_8_declared_western_is_read_as_utf_8_and_noted(label):
    parsed = parse_file(declared(utf8_text(), label).encode("utf-8"))
    (document,) = parsed.documents
    assert document.issuer_name == NAME
    assert document == expected_document()
    assert parsed.problems == [f"declared {label} but written in UTF-8; read as UTF-8"]


def test_the_ted_of_a_re_decoded_file_carries_the_right_text():
    (document,) = parse_file(declared(utf8_text(), "ISO-8859-1").encode("utf-8")).documents
    ted = document.ted.decode("iso-8859-1")
    assert f"<RS>{NAME}</RS>" in ted
    assert "Ã" not in ted
    assert document.ted == expected_document().ted


@pytest.mark.parametrize(
    ("label", "note"),
    [
        ("UTF-8", "declared UTF-8 but not written in UTF-8; read as ISO-8859-1"),
        ("utf8", "declared utf8 but not written in UTF-8; read as ISO-8859-1"),
        (None, "no encoding declared but not written in UTF-8; read as ISO-8859-1"),
    ],
)
def test_iso_8859_1_declared_utf_8_or_undeclared_is_read_as_iso_8859_1_and_noted(label, note):
    parsed = parse_file(declared(utf8_text(), label).encode("iso-8859-1"))
    (document,) = parsed.documents
    assert document.issuer_name == NAME
    assert document.lines[1].name == "Señalética de emergencia"
    assert f"<RS>{NAME}</RS>" in document.ted.decode("iso-8859-1")
    assert parsed.problems == [note]


def test_windows_1252_declared_utf_8_is_read_as_windows_1252():
    """Its dash and euro sign are bytes 0x96 and 0x80, which ISO-8859-1 would make control characters."""
    name = "Diseño – Austral € SpA"
    parsed = parse_file(utf8_text(name).encode("cp1252"))
    (document,) = parsed.documents
    assert document.issuer_name == name
    assert parsed.problems == ["declared UTF-8 but not written in UTF-8; read as windows-1252"]


def test_utf_8_with_a_stray_byte_keeps_its_utf_8_and_replaces_the_byte():
    """Read as ISO-8859-1, every "ñ" of the file would become "Ã±" to save one broken byte."""
    data = utf8_text().encode("utf-8").replace(b"Providencia 1234", b"Providencia 12\xb034")
    parsed = parse_file(data)
    (document,) = parsed.documents
    assert document.issuer_name == NAME
    assert "Providencia 12\ufffd34" in document.issuer_address
    assert parsed.problems == [
        "declared UTF-8 but not all of it is UTF-8; read as UTF-8, the other bytes replaced by \ufffd"
    ]


@pytest.mark.parametrize(
    "data",
    [
        samples.dte_xml(issuer_name=NAME, encoding="ISO-8859-1"),
        samples.dte_xml(issuer_name=NAME, encoding="UTF-8"),
        declared(utf8_text(), None).encode("utf-8"),
        declared(utf8_text(), "ISO-8859-1").encode("ascii", errors="xmlcharrefreplace"),
    ],
    ids=["ISO-8859-1", "UTF-8", "undeclared UTF-8", "character references declared ISO-8859-1"],
)
def test_a_file_written_as_it_declares_has_no_note(data):
    parsed = parse_file(data)
    assert parsed.problems == []
    assert parsed.documents[0].issuer_rut == samples.DEFAULT_ISSUER_RUT


def test_a_mislabelled_file_is_refused_for_a_dtd_all_the_same():
    text = declared(utf8_text(), "UTF-8").replace(
        "<EnvioDTE", '<!DOCTYPE EnvioDTE SYSTEM "file:///etc/passwd">\n<EnvioDTE'
    )
    for data in (text.encode("iso-8859-1"), declared(text, "ISO-8859-1").encode("utf-8")):
        parsed = parse_file(data)
        assert (parsed.kind, parsed.problems) == (Kind.INVALID, [DTD_REFUSED])


def test_the_note_of_a_file_no_parser_knows_is_kept_too():
    parsed = parse_file('<?xml version="1.0" encoding="ISO-8859-1"?><Cotización>Diseño</Cotización>'.encode())
    assert (parsed.kind, parsed.summary) == (Kind.OTHER, "XML with root <Cotización>")
    assert parsed.problems == ["declared ISO-8859-1 but written in UTF-8; read as UTF-8"]


def test_the_note_of_an_aec_reaches_its_problems():
    data = (
        aec_xml(cessions=CHAIN, encoding="UTF-8").decode("utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    )
    parsed = parse_file(data.encode("utf-8"))
    assert parsed.kind is Kind.ASSIGNMENT
    assert parsed.problems == ["declared ISO-8859-1 but written in UTF-8; read as UTF-8"]
    assert parsed.assignments[-1].assignee_name == "Factoring Ñuble SpA"


def test_the_note_survives_the_sandbox(tmp_path):
    path = tmp_path / "mislabelled.xml"
    path.write_bytes(declared(utf8_text(), "ISO-8859-1").encode("utf-8"))
    parsed = parse_path(path, content_type="application/xml")
    assert parsed.documents[0].issuer_name == NAME
    assert parsed.problems == ["declared ISO-8859-1 but written in UTF-8; read as UTF-8"]


def test_bytes_that_are_not_another_declared_encoding_are_still_refused_with_the_offset():
    """Only the UTF-8 / ISO-8859-1 mix-up is corrected: there the bytes tell which one they are."""
    data = '<?xml version="1.0" encoding="US-ASCII"?><DTE>Ñ</DTE>'.encode("iso-8859-1")
    assert parse_file(data).problems == ["not well-formed XML: bytes that are not US-ASCII at byte 46"]
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><DTE>x</DTE>'.encode("utf-16-le") + b"\x00\xd8"
    assert parse_file(utf16).problems == ["not well-formed XML: bytes that are not utf-16-le at byte 102"]
