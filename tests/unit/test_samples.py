from datetime import date
from email import message_from_bytes, policy

import pypdfium2
import pytest
from lxml import etree

from pipeline import samples

NS = {"sii": samples.SII_NS}


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))


def _text(root: etree._Element, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    return found[0].text


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (76086428, "76086428-5"),
        (96790240, "96790240-3"),
        (11111111, "11111111-1"),
        (12345678, "12345678-5"),
        (10000013, "10000013-K"),
        (10000004, "10000004-0"),
        (1, "1-9"),
    ],
)
def test_valid_rut_computes_the_mod11_check_digit(number, expected):
    assert samples.valid_rut(number) == expected


def test_envelope_has_the_sii_structure_and_namespace():
    root = _parse(samples.dte_xml(folio=4321))
    assert root.tag == f"{{{samples.SII_NS}}}EnvioDTE"
    assert root.get("version") == "1.0"
    for tag in ("RutEmisor", "RutEnvia", "RutReceptor", "FchResol", "NroResol", "TmstFirmaEnv"):
        _text(root, f"sii:SetDTE/sii:Caratula/sii:{tag}")
    assert _text(root, "sii:SetDTE/sii:Caratula/sii:SubTotDTE/sii:NroDTE") == "1"
    doc = root.xpath("sii:SetDTE/sii:DTE/sii:Documento", namespaces=NS)[0]
    assert _text(doc, "sii:Encabezado/sii:IdDoc/sii:Folio") == "4321"
    assert _text(doc, "sii:Encabezado/sii:Emisor/sii:RUTEmisor") == "76086428-5"
    assert _text(doc, "sii:TED/sii:DD/sii:F") == "4321"
    assert _text(doc, "sii:TED/sii:DD/sii:CAF/sii:DA/sii:RNG/sii:D") == "4001"
    assert doc.xpath("sii:TED/sii:FRMT/@algoritmo", namespaces=NS) == ["SHA1withRSA"]
    _text(doc, "sii:TmstFirma")


def test_bare_dte_without_namespace():
    root = _parse(samples.dte_xml(envelope=False, namespace=False))
    assert root.tag == "DTE"
    assert root.findtext("Documento/Encabezado/IdDoc/TipoDTE") == "33"


def test_bare_dte_with_namespace():
    root = _parse(samples.dte_xml(envelope=False))
    assert root.tag == f"{{{samples.SII_NS}}}DTE"


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-8"])
def test_encoding_is_declared_and_accents_survive(encoding):
    name = "Distribuidora Ñuble – Café € S.A."  # en dash and euro: not in ISO-8859-1
    data = samples.dte_xml(issuer_name=name, encoding=encoding)
    assert data.startswith(f'<?xml version="1.0" encoding="{encoding}"?>'.encode())
    if encoding != "UTF-8":
        assert "Ñuble".encode(encoding) in data and "Ñuble".encode() not in data
    root = _parse(data)
    assert _text(root, "//sii:Emisor/sii:RznSoc") == name


def test_totals_are_consistent():
    lines = [("Tóner", 3, 10_001), ("Papel", 1.5, 3_333)]
    root = _parse(samples.dte_xml(lines=lines, exempt_lines=[("Flete", 1, 5_000)]))
    amounts = [int(x) for x in root.xpath("//sii:Detalle/sii:MontoItem/text()", namespaces=NS)]
    exempt_flags = root.xpath("//sii:Detalle/sii:IndExe/text()", namespaces=NS)
    assert amounts == [30_003, 5_000, 5_000]  # 1.5 x 3333 = 4999.5 rounds half up
    assert exempt_flags == ["1"]
    net, exempt = 35_003, 5_000
    iva = round(net * 0.19)
    assert int(_text(root, "//sii:Totales/sii:MntNeto")) == net
    assert int(_text(root, "//sii:Totales/sii:MntExe")) == exempt
    assert int(_text(root, "//sii:Totales/sii:TasaIVA")) == 19
    assert int(_text(root, "//sii:Totales/sii:IVA")) == iva
    assert int(_text(root, "//sii:Totales/sii:MntTotal")) == net + iva + exempt
    assert int(_text(root, "//sii:TED/sii:DD/sii:MNT")) == net + iva + exempt


def test_exempt_invoice_has_no_iva():
    root = _parse(samples.dte_xml(doc_type=34, lines=[("Curso", 2, 50_000)]))
    assert not root.xpath("//sii:Totales/sii:IVA", namespaces=NS)
    assert _text(root, "//sii:Totales/sii:MntExe") == _text(root, "//sii:Totales/sii:MntTotal") == "100000"


def test_credit_note_references_its_invoice():
    ref = samples.Reference(folio=1234, issue_date=date(2024, 5, 2), code=3, reason="Corrige montos")
    root = _parse(samples.dte_xml(doc_type=61, folio=88, reference=ref))
    assert _text(root, "//sii:Referencia/sii:TpoDocRef") == "33"
    assert _text(root, "//sii:Referencia/sii:FolioRef") == "1234"
    assert _text(root, "//sii:Referencia/sii:FchRef") == "2024-05-02"
    assert _text(root, "//sii:Referencia/sii:CodRef") == "3"
    with pytest.raises(ValueError, match="reference"):
        samples.dte_xml(doc_type=61)


def test_several_documents_in_one_envelope():
    docs = [samples.Dte(folio=1), samples.Dte(folio=2), {"doc_type": 34, "folio": 3}]
    root = _parse(samples.envio_dte(documents=docs))
    assert root.xpath("//sii:IdDoc/sii:Folio/text()", namespaces=NS) == ["1", "2", "3"]
    subtotals = root.xpath("//sii:SubTotDTE", namespaces=NS)
    assert [(_text(s, "sii:TpoDTE"), _text(s, "sii:NroDTE")) for s in subtotals] == [("33", "2"), ("34", "1")]


@pytest.mark.parametrize("pages", [1, 3])
def test_invoice_pdf_is_a_real_pdf_with_the_pages_asked(pages):
    data = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=77, total=1_234_567, pages=pages)
    assert data.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(data)
    try:
        assert len(document) == pages
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "Folio N° 77" in text and "$1.234.567" in text


def test_supplier_email_parses_back_with_both_attachments():
    xml = samples.dte_xml(folio=1234)
    data = samples.supplier_email(folio=1234, xml=xml)
    message = message_from_bytes(data, policy=policy.default)
    assert message["Date"] and message["Message-ID"]
    assert "1234" in message["Subject"]
    assert message.get_body(("plain",)).get_content().startswith("Estimados")
    parts = {p.get_filename(): p for p in message.iter_attachments()}
    assert set(parts) == {"DTE_33_76086428-5_F1234.xml", "Factura_1234.pdf"}
    xml_part, pdf_part = parts["DTE_33_76086428-5_F1234.xml"], parts["Factura_1234.pdf"]
    assert xml_part.get_content_type() == "application/xml"
    assert xml_part.get_payload(decode=True) == xml
    assert pdf_part.get_content_type() == "application/pdf"
    assert pdf_part.get_payload(decode=True).startswith(b"%PDF")


def test_supplier_email_takes_custom_attachments_and_message_id():
    blob = bytes(range(256)) * 10
    data = samples.supplier_email(
        message_id="<fixed@example.cl>", attachments=[("raro.bin", "application/octet-stream", blob)]
    )
    message = message_from_bytes(data, policy=policy.default)
    assert message["Message-ID"] == "<fixed@example.cl>"
    [part] = message.iter_attachments()
    assert part.get_filename() == "raro.bin" and part.get_payload(decode=True) == blob


def test_message_ids_are_unique_by_default():
    first = message_from_bytes(samples.supplier_email(attachments=[]), policy=policy.default)
    second = message_from_bytes(samples.supplier_email(attachments=[]), policy=policy.default)
    assert first["Message-ID"] != second["Message-ID"]


def test_demo_mailbox_is_varied_valid_and_deterministic(tmp_path):
    paths = samples.write_demo_mailbox(tmp_path / "a", count=6, seed=7)
    again = samples.write_demo_mailbox(tmp_path / "b", count=6, seed=7)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    assert len(paths) == 6 and all(p.suffix == ".eml" for p in paths)
    types, folios, references = [], {}, []
    for path in paths:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        [xml_part] = [p for p in message.iter_attachments() if p.get_filename().endswith(".xml")]
        root = _parse(xml_part.get_payload(decode=True))
        doc = root.xpath("//*[local-name()='Documento']")[0]
        field = lambda name, doc=doc: doc.xpath(f".//*[local-name()='{name}']")[0].text  # noqa: E731
        rut = field("RUTEmisor")
        assert samples.valid_rut(int(rut.split("-")[0])) == rut
        types.append(int(field("TipoDTE")))
        folios[field("Folio")] = rut
        if types[-1] == 61:
            references.append((field("FolioRef"), rut))
    assert {33, 34, 61} <= set(types)
    assert references and all(folios.get(folio) == rut for folio, rut in references)
    different_seed = samples.write_demo_mailbox(tmp_path / "c", count=6, seed=8)
    assert [p.read_bytes() for p in different_seed] != [p.read_bytes() for p in paths]
