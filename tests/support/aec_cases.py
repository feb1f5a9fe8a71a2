"""AEC files (Archivo Electrónico de Cesión, SII AEC v1.0): an invoice sold to a factoring company.

Built with pipeline.samples' DTE builder for the signed invoice they carry. A `Cession`'s fields
are text as the XML holds it, so a test can write junk into any of them; None leaves it out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import samples

FACTORING_SUR_RUT = samples.valid_rut(76_123_456)
FACTORING_SUR = "Factoring Sur SpA"
FACTORING_NUBLE_RUT = samples.valid_rut(96_555_444)
FACTORING_NUBLE = "Factoring Ñuble SpA"
INVOICE = samples.Dte()
INVOICE_TOTAL = INVOICE.totals()["MntTotal"]


@dataclass(frozen=True)
class Cession:
    """One `Cesion`. IdDTE's fields default to the carried DTE's (None: from the DTE, "": left out)."""

    sequence: str = "1"
    assignor_rut: str = samples.DEFAULT_ISSUER_RUT
    assignor_name: str = samples.DEFAULT_ISSUER_NAME
    assignee_rut: str = FACTORING_SUR_RUT
    assignee_name: str = FACTORING_SUR
    assignee_email: str = "operaciones@factoringsur.cl"
    amount: str | None = None  # MontoCesion; None: the invoice's total
    last_due_date: str = "2024-06-13"
    assigned_at: str = "2024-05-20T10:15:00"
    doc_type: str | None = None
    folio: str | None = None
    issuer_rut: str | None = None
    issue_date: str | None = None
    invoice_total: str | None = None


#: The invoice sold to Factoring Sur, which sold it on to Factoring Ñuble.
CHAIN = (
    Cession(),
    Cession(
        sequence="2",
        assignor_rut=FACTORING_SUR_RUT,
        assignor_name=FACTORING_SUR,
        assignee_rut=FACTORING_NUBLE_RUT,
        assignee_name=FACTORING_NUBLE,
        assignee_email="cesiones@factoringnuble.cl",
        amount=str(INVOICE_TOTAL - 1000),
        assigned_at="2024-05-27T16:40:05",
    ),
)


def _sub(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = str(text)
    return child


def _group(parent: ET.Element, tag: str, fields: Sequence[tuple[str, object]]) -> ET.Element:
    """A child holding one text element per (tag, value); None and "" values are left out."""
    group = _sub(parent, tag)
    for name, value in fields:
        if value is not None and value != "":
            _sub(group, name, value)
    return group


def _signature(parent: ET.Element, *seed: object) -> None:
    signature = _sub(parent, "Signature", xmlns=samples.DSIG_NS)
    _sub(signature, "SignatureValue", "|".join(map(str, seed)))


def _cession(parent: ET.Element, cession: Cession, dte: samples.Dte) -> None:
    def default(value: str | None, fallback: object) -> object:
        return fallback if value is None else value

    element = _sub(parent, "Cesion", version="1.0")
    document = _sub(element, "DocumentoCesion", ID=f"Cesion{cession.sequence}")
    _sub(document, "SeqCesion", cession.sequence)
    _group(
        document,
        "IdDTE",
        [
            ("TipoDTE", default(cession.doc_type, dte.doc_type)),
            ("RUTEmisor", default(cession.issuer_rut, dte.issuer_rut)),
            ("RUTReceptor", dte.receiver_rut),
            ("Folio", default(cession.folio, dte.folio)),
            ("FchEmis", default(cession.issue_date, dte.issue_date)),
            ("MntTotal", default(cession.invoice_total, dte.totals()["MntTotal"])),
        ],
    )
    assignor = _group(
        document,
        "Cedente",
        [
            ("RUT", cession.assignor_rut),
            ("RazonSocial", cession.assignor_name),
            ("Direccion", "Av. Providencia 1234, Of. 56, Providencia"),
            ("eMail", "cobranza@proveedora.cl"),
        ],
    )
    _group(assignor, "RUTAutorizado", [("RUT", samples.valid_rut(12_345_678)), ("Nombre", "María Muñoz")])
    _sub(assignor, "DeclaracionJurada", "Se declara bajo juramento que se ha puesto a disposición del cesionario...")
    _group(
        document,
        "Cesionario",
        [
            ("RUT", cession.assignee_rut),
            ("RazonSocial", cession.assignee_name),
            ("Direccion", "Huérfanos 1160, Santiago"),
            ("eMail", cession.assignee_email),
        ],
    )
    for name, value in (
        ("MontoCesion", default(cession.amount, dte.totals()["MntTotal"])),
        ("UltimoVencimiento", cession.last_due_date),
        ("eMailDeudor", "pagos@losandes.cl"),
        ("TmstCesion", cession.assigned_at),
    ):
        if value != "":
            _sub(document, name, value)
    _signature(element, "cesion", cession.sequence)


def aec_xml(
    *,
    dte: samples.Dte | None = INVOICE,
    cessions: Sequence[Cession] = (Cession(),),
    namespace: bool = True,
    encoding: str = "ISO-8859-1",
) -> bytes:
    """An AEC carrying `dte` (None: no DTECedido) and `cessions`; the Caratula names the last one's parties."""
    root = ET.Element("AEC", version="1.0")
    document = _sub(root, "DocumentoAEC", ID="AEC1")
    last = cessions[-1] if cessions else Cession()
    _group(
        document,
        "Caratula",
        [
            ("RutCedente", last.assignor_rut),
            ("RutCesionario", last.assignee_rut),
            ("NmbContacto", "María Muñoz"),
            ("FonoContacto", "+56 2 2345 6789"),
            ("MailContacto", "cobranza@proveedora.cl"),
            ("TmstFirmaEnvio", "2024-05-27T16:45:00"),
        ],
    ).set("version", "1.0")
    cessions_element = _sub(document, "Cesiones")
    if dte is not None:
        ceded = _sub(cessions_element, "DTECedido", version="1.0")
        ceded_document = _sub(ceded, "DocumentoDTECedido", ID="DTECedido1")
        ceded_document.append(samples._dte_element(dte))
        _sub(ceded_document, "ImagenAR", "JVBERi0xLjQKJcOkw7zDtsOf")  # a scan of the signed receipt (a PDF)
        _sub(ceded_document, "TmstFirma", "2024-05-20T10:14:00")
        _signature(ceded, "dte-cedido", dte.folio)
    for cession in cessions:
        _cession(cessions_element, cession, dte or INVOICE)
    _signature(root, "aec")
    return samples._serialize(root, namespace=namespace, encoding=encoding)
