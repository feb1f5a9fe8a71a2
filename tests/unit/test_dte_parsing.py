"""The DTE parsers (plain Python): every root, encodings, namespaces, RUTs and hostile files."""

from __future__ import annotations

import time
from datetime import date

import pytest

from pipeline import samples
from pipeline.dte import Kind, check_digit, format_rut, formats, parse_file, parse_rut
from pipeline.dte.formatting import clp
from pipeline.dte.xmlsafe import XmlRejected, parse_xml
from tests.support import dte_files


def test_envelope_with_three_dte_reads_every_field():
    parsed = parse_file(dte_files.three_dte_envelope(), content_type="application/xml")
    assert (parsed.format, parsed.kind, parsed.problems) == ("cl-sii-xml", Kind.ENVELOPE, [])
    assert (parsed.resolution_number, parsed.resolution_date) == (99, date(2019, 3, 7))
    assert parsed.summary == "EnvioDTE with 3 DTE"
    invoice, exempt, note = parsed.documents
    assert (invoice.doc_type, invoice.type_name, invoice.folio, invoice.issue_date) == (
        33,
        "Factura electrónica",
        501,
        dte_files.INVOICE_DATE,
    )
    assert (invoice.issuer_rut, invoice.issuer_rut_valid, invoice.issuer_rut_error) == ("76086428-5", True, "")
    assert invoice.issuer_name == "Proveedora Austral SpA"
    assert (invoice.receiver_rut, invoice.receiver_rut_valid, invoice.receiver_name) == (
        "77500100-3",
        True,
        "Comercializadora Los Andes Ltda.",
    )
    assert (invoice.net, invoice.exempt, invoice.vat, invoice.total) == (55_870, None, 10_615, 66_485)
    assert invoice.line_count == 2 and invoice.lines[0].name == "Café de grano Ñuñoa 1 kg"
    assert invoice.lines[0].amount == 38_970 and invoice.references == ()
    assert (invoice.resolution_number, invoice.resolution_date, invoice.position) == (99, date(2019, 3, 7), 0)
    assert (exempt.doc_type, exempt.type_name, exempt.folio) == (34, "Factura no afecta o exenta electrónica", 502)
    assert (exempt.net, exempt.exempt, exempt.vat, exempt.total) == (None, 150_000, None, 150_000)
    assert (note.doc_type, note.type_name, note.folio, note.total) == (61, "Nota de crédito electrónica", 77, 15_458)
    (ref,) = note.references
    assert (ref.ref_type, ref.ref_folio, ref.ref_date, ref.code) == ("33", "501", dte_files.INVOICE_DATE, 1)
    assert ref.reason == "Anula documento de referencia"


def test_ted_is_iso_8859_1_without_namespace_or_indentation():
    doc = parse_file(samples.dte_xml(folio=9, issuer_name="Ñandú SpA")).documents[0]
    assert doc.ted.startswith(b'<TED version="1.0"><DD><RE>76086428-5</RE><TD>33</TD><F>9</F>')
    assert b"xmlns" not in doc.ted and b"\n" not in doc.ted
    assert "Ñandú".encode("iso-8859-1") in doc.ted and doc.ted.endswith(b"</TED>")


def test_bare_dte_without_namespace_in_windows_1252_keeps_accents():
    data = dte_files.bare_windows_1252()
    assert b'xmlns="http://www.sii.cl/SiiDte"' not in data and "Ñ".encode("cp1252") in data
    parsed = parse_file(data)
    assert (parsed.kind, parsed.problems) == (Kind.DOCUMENT, [])
    (doc,) = parsed.documents
    assert (doc.folio, doc.issuer_name, doc.receiver_name) == (
        4321,
        "Distribuidora Ñuble S.A.",
        "Panadería Ñandú Ltda.",
    )
    assert [line.name for line in doc.lines] == ["Azúcar granulada", "Señalética «Salida»"]
    assert (doc.resolution_number, doc.resolution_date) == (None, None)


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-8"])
@pytest.mark.parametrize("namespace", [True, False])
@pytest.mark.parametrize("envelope", [True, False])
def test_every_shape_reads_the_same(encoding, namespace, envelope):
    data = samples.dte_xml(folio=88, encoding=encoding, namespace=namespace, envelope=envelope)
    (doc,) = parse_file(data).documents
    assert (doc.folio, doc.total, doc.lines[1].name) == (88, 66_485, "Señalética de emergencia")


def test_latin1_label_on_windows_text_and_undeclared_latin1_are_read_as_windows_1252():
    body = (
        "<DTE><Documento><Encabezado><IdDoc><TipoDTE>33</TipoDTE><Folio>5</Folio></IdDoc>"
        "<Emisor><RUTEmisor>76086428-5</RUTEmisor><RznSoc>Caf\u00e9 \u201cEl Ñandú\u201d \u20ac</RznSoc>"
        "</Emisor></Encabezado></Documento></DTE>"
    )
    labelled = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + body).encode("cp1252")
    undeclared = body.encode("cp1252")
    for data in (labelled, undeclared):
        assert parse_file(data).documents[0].issuer_name == "Café “El Ñandú” €"


def test_credit_note_points_at_the_invoice_it_corrects():
    xml = samples.dte_xml(
        doc_type=61,
        folio=12,
        reference=samples.Reference(folio=1234, issue_date=date(2024, 5, 1), code=3, reason="Devolución parcial"),
    )
    (note,) = parse_file(xml).documents
    assert (note.doc_type, note.references[0].ref_folio, note.references[0].code) == (61, "1234", 3)


@pytest.mark.parametrize(
    ("data", "kind", "summary"),
    [
        (dte_files.RESPUESTA_DTE, Kind.RESPONSE, "RespuestaDTE from 77500100-3: 1 result(s)"),
        (dte_files.ENVIO_RECIBOS, Kind.RECEIPTS, "EnvioRecibos from 77500100-3: 1 receipt(s)"),
    ],
)
def test_responses_and_receipts_are_labelled_not_invoices(data, kind, summary):
    parsed = parse_file(data)
    assert (parsed.kind, parsed.summary, parsed.documents, parsed.problems) == (kind, summary, [], [])


def test_other_xml_is_labelled_other():
    parsed = parse_file(b'<?xml version="1.0"?><Pedido><Numero>1</Numero></Pedido>')
    assert (parsed.kind, parsed.summary, parsed.documents) == (Kind.OTHER, "XML with root <Pedido>", [])


def test_billion_laughs_is_refused_quickly_without_expansion():
    started = time.monotonic()
    parsed = parse_file(dte_files.BILLION_LAUGHS)
    assert time.monotonic() - started < 1
    assert parsed.kind is Kind.INVALID and parsed.documents == []
    assert "DTD" in parsed.problems[0]


def test_external_entity_is_never_read():
    parsed = parse_file(dte_files.EXTERNAL_ENTITY)
    assert parsed.kind is Kind.INVALID and "DTD" in parsed.problems[0]
    assert "root:" not in repr(parsed)
    # Even the parser underneath, if it were let through, resolves nothing.
    from lxml import etree

    from pipeline.dte.xmlsafe import _parser

    root = etree.fromstring(dte_files.EXTERNAL_ENTITY, _parser())
    assert b"root:" not in etree.tostring(root)


def test_truncated_file_is_invalid_with_a_reason():
    data = dte_files.three_dte_envelope()
    parsed = parse_file(data[: len(data) // 2])
    assert parsed.kind is Kind.INVALID and parsed.documents == []
    assert "not well-formed XML" in parsed.problems[0]


def test_empty_and_oversized_files_are_refused():
    with pytest.raises(XmlRejected, match="empty"):
        parse_xml(b"  \n")
    with pytest.raises(XmlRejected, match="limit"):
        parse_xml(b"<a>" + b"x" * 2048 + b"</a>", max_bytes=1024)


def test_wrong_check_digit_is_recorded_not_dropped():
    (doc,) = parse_file(samples.dte_xml(issuer_rut=dte_files.WRONG_RUT)).documents
    assert (doc.issuer_rut, doc.issuer_rut_valid) == ("76086428-3", False)
    assert doc.issuer_rut_error == "wrong check digit: 76086428-3 should end in -5"


def test_a_dte_without_folio_is_a_problem_while_the_others_are_read():
    data = dte_files.three_dte_envelope().replace(b"<Folio>502</Folio>", b"<Folio></Folio>")
    parsed = parse_file(data)
    assert [d.folio for d in parsed.documents] == [501, 77]
    assert parsed.problems == ["DTE #2: no valid TipoDTE/Folio (TipoDTE='34', Folio='')"]


@pytest.mark.parametrize(
    ("raw", "normalized", "valid"),
    [
        ("76.086.428-5", "76086428-5", True),
        ("76086428-5", "76086428-5", True),
        ("760864285", "76086428-5", True),
        ("96.790.240-3", "96790240-3", True),
        ("10.000.013-k", "10000013-K", True),
        ("11111111-1", "11111111-1", True),
        ("76086428-0", "76086428-0", False),
        ("", "", False),
        ("ABC", "ABC", False),
    ],
)
def test_rut_validation(raw, normalized, valid):
    rut = parse_rut(raw)
    assert (rut.normalized, rut.valid) == (normalized, valid)
    assert bool(rut.reason) is not valid


def test_rut_helpers_agree_with_the_samples():
    for number in (76_086_428, 96_790_240, 77_215_683, 1, 10_000_013):
        assert f"{number}-{check_digit(number)}" == samples.valid_rut(number)
    assert format_rut("76086428-5") == "76.086.428-5"
    assert (clp(1_234_567), clp(0), clp(-5_000), clp(None)) == ("$1.234.567", "$0", "-$5.000", "-")


def test_the_registry_names_its_formats():
    assert "cl-sii-xml" in formats()
