"""Receivers' answers as the SII defines them: RespuestaDTE (RespuestaEnvioDTE v1.0) and EnvioRecibos (v1.0).

What each answers is an `Answered` DTE, by default samples.Dte() (factura 1234 of Proveedora Austral
SpA to Comercializadora Los Andes): its fields are text as the XML holds it, so a test can write junk
into any of them; "" leaves the element out. The receiver (RutResponde) answers the issuer (RutRecibe).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import samples

INVOICE = samples.Dte()
INVOICE_TOTAL = INVOICE.totals()["MntTotal"]
DECLARACION = (
    "El acuse de recibo que se declara en este acto, de acuerdo a lo dispuesto en la letra b) del Art. 4, "
    "y la letra c) del Art. 5 de la Ley 19.983, acredita que la entrega de mercaderias o servicio(s) "
    "prestado(s) ha(n) sido recibido(s)."
)
#: Who signs the receipts for the receiver: a person, with the company's certificate.
SIGNER_RUT = samples.valid_rut(12_345_678)


@dataclass(frozen=True)
class Answered:
    """The DTE an answer row names, and what the row says of it."""

    doc_type: str = str(INVOICE.doc_type)
    folio: str = str(INVOICE.folio)
    issue_date: str = INVOICE.issue_date.isoformat()
    issuer_rut: str = "76.086.428-5"  # written with dots, as some software does
    receiver_rut: str = samples.DEFAULT_RECEIVER_RUT
    total: str = str(INVOICE_TOTAL)
    state: str = "0"  # EstadoRecepDTE / EstadoDTE; ignored by a Recibo
    glosa: str = ""  # RecepDTEGlosa / EstadoDTEGlosa; a Recibo's Recinto
    signed_at: str = "2024-05-16T11:20:00"  # a Recibo's TmstFirmaRecibo


REJECTED = Answered(state="2", glosa="RECHAZADO: el monto no coincide con la orden de compra 4500123")


def _sub(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = str(text)
    return child


def _fields(parent: ET.Element, fields: Sequence[tuple[str, str]]) -> None:
    for tag, text in fields:
        if text:
            _sub(parent, tag, text)


def _dte_key(answered: Answered, type_tag: str = "TipoDTE") -> list[tuple[str, str]]:
    return [
        (type_tag, answered.doc_type),
        ("Folio", answered.folio),
        ("FchEmis", answered.issue_date),
        ("RUTEmisor", answered.issuer_rut),
        ("RUTRecep", answered.receiver_rut),
        ("MntTotal", answered.total),
    ]


def _caratula(parent: ET.Element, *, responder: str, recipient: str, count: int, stamp: tuple[str, str]) -> None:
    caratula = _sub(parent, "Caratula", version="1.0")
    _fields(
        caratula,
        [
            ("RutResponde", responder),
            ("RutRecibe", recipient),
            ("IdRespuesta", "1" if stamp[0] == "TmstFirmaResp" else ""),
            ("NroDetalles", str(count)),
            ("NmbContacto", "Patricia Soto"),
            ("FonoContacto", "+56 2 2345 6789"),
            ("MailContacto", "dte@losandes.cl"),
            stamp,
        ],
    )


def _signature(parent: ET.Element) -> None:
    """Where the SII's signature goes; its value is not checked by the reader."""
    signature = _sub(parent, "Signature", xmlns="http://www.w3.org/2000/09/xmldsig#")
    _sub(_sub(signature, "SignedInfo"), "Reference", URI="#R1")
    _sub(signature, "SignatureValue", "c2lnbmVk")


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="ISO-8859-1", xml_declaration=True)


def respuesta_dte(
    *,
    received: Sequence[Answered] = (Answered(glosa="DTE Recibido OK"),),
    results: Sequence[Answered] = (),
    envelope_state: str = "0",
    envelope_glosa: str = "Envio Recibido Conforme",
    signed_at: str = "2024-05-15T09:30:00",
    responder: str = samples.DEFAULT_RECEIVER_RUT,
    recipient: str = samples.DEFAULT_ISSUER_RUT,
) -> bytes:
    """A RespuestaDTE: the envelope received with a RecepcionDTE per DTE of `received` (none: no
    RecepcionEnvio), then a ResultadoDTE per DTE of `results`."""
    root = ET.Element("RespuestaDTE", {"xmlns": samples.SII_NS, "version": "1.0"})
    resultado = _sub(root, "Resultado", ID="R1")
    count = len(received) + len(results)
    _caratula(resultado, responder=responder, recipient=recipient, count=count, stamp=("TmstFirmaResp", signed_at))
    if received or envelope_state != "0":
        envelope = _sub(resultado, "RecepcionEnvio")
        _fields(
            envelope,
            [
                ("NmbEnvio", f"EnvioDTE_{samples.DEFAULT_ISSUER_RUT}_1234.xml"),
                ("FchRecep", "2024-05-15T09:12:44"),
                ("CodEnvio", "1"),
                ("EnvioDTEID", "SetDoc"),
                ("Digest", "q2tH8Zk4oT0m7m8Vb5aC9wq1XxY="),
                ("RutEmisor", samples.DEFAULT_ISSUER_RUT),
                ("RutReceptor", samples.DEFAULT_RECEIVER_RUT),
                ("EstadoRecepEnv", envelope_state),
                ("RecepEnvGlosa", envelope_glosa),
                ("NroDTE", str(len(received))),
            ],
        )
        for answered in received:
            row = _sub(envelope, "RecepcionDTE")
            _fields(row, [*_dte_key(answered), ("EstadoRecepDTE", answered.state), ("RecepDTEGlosa", answered.glosa)])
    for code, answered in enumerate(results, start=1):
        row = _sub(resultado, "ResultadoDTE")
        _fields(
            row,
            [
                *_dte_key(answered),
                ("CodEnvio", str(code)),
                ("EstadoDTE", answered.state),
                ("EstadoDTEGlosa", answered.glosa),
            ],
        )
        if answered.state == "2":
            _sub(row, "CodRchDsc", "-1")
    _signature(root)
    return _serialize(root)


def envio_recibos(
    *,
    receipts: Sequence[Answered] = (Answered(glosa="Bodega Central, Av. Matta 1250, Santiago"),),
    signed_at: str = "2024-05-16T11:25:00",
    responder: str = samples.DEFAULT_RECEIVER_RUT,
    recipient: str = samples.DEFAULT_ISSUER_RUT,
    signer: str = SIGNER_RUT,
) -> bytes:
    """An EnvioRecibos with a Recibo per DTE of `receipts` (its `glosa` is the Recinto)."""
    root = ET.Element("EnvioRecibos", {"xmlns": samples.SII_NS, "version": "1.0"})
    set_recibos = _sub(root, "SetRecibos", ID="SetRecibos")
    _caratula(
        set_recibos, responder=responder, recipient=recipient, count=len(receipts), stamp=("TmstFirmaEnv", signed_at)
    )
    for number, answered in enumerate(receipts, start=1):
        recibo = _sub(set_recibos, "Recibo", version="1.0")
        document = _sub(recibo, "DocumentoRecibo", ID=f"Recibo{number}")
        _fields(
            document,
            [
                *_dte_key(answered, type_tag="TipoDoc"),
                ("Recinto", answered.glosa),
                ("RutFirma", signer),
                ("Declaracion", DECLARACION),
                ("TmstFirmaRecibo", answered.signed_at),
            ],
        )
        _signature(recibo)
    _signature(root)
    return _serialize(root)
