"""Generated supplier e-mails: Chilean DTE XML, a PDF copy, the message around them.

Used by the demo mailbox of `make run`, the tests and the benchmarks. Everything is
deterministic for given arguments, except a Message-ID (and so the MIME boundary)
that the caller did not fix.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from pipeline.samples_ted import TedKind, add_ted

#: The SII's namespace for DTE, EnvioDTE and their parts.
SII_NS = "http://www.sii.cl/SiiDte"
#: XML-DSig namespace of the (stub) signatures.
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
#: Chilean VAT rate, percent.
IVA_RATE = 19

#: (item name, quantity, unit price in CLP)
Line = tuple[str, float, int]

DOC_NAMES = {
    33: "Factura Electrónica",
    34: "Factura No Afecta o Exenta Electrónica",
    56: "Nota de Débito Electrónica",
    61: "Nota de Crédito Electrónica",
}
_PDF_PREFIX = {33: "Factura", 34: "FacturaExenta", 56: "NotaDebito", 61: "NotaCredito"}


def valid_rut(number: int) -> str:
    """`number` with its mod-11 check digit: valid_rut(76086428) == "76086428-5"."""
    total, weight = 0, 2
    for digit in reversed(str(number)):
        total += int(digit) * weight
        weight = 2 if weight == 7 else weight + 1
    check = 11 - total % 11
    digit = {11: "0", 10: "K"}.get(check, str(check))
    return f"{number}-{digit}"


DEFAULT_ISSUER_RUT = "76086428-5"
DEFAULT_ISSUER_NAME = "Proveedora Austral SpA"
DEFAULT_RECEIVER_RUT = valid_rut(77_500_100)
DEFAULT_RECEIVER_NAME = "Comercializadora Los Andes Ltda."
DEFAULT_LINES: tuple[Line, ...] = (
    ("Café de grano Ñuñoa 1 kg", 3, 12_990),
    ("Señalética de emergencia", 2, 8_450),
)


@dataclass(frozen=True)
class Reference:
    """A `Referencia`: what a credit or debit note corrects (CodRef 1 voids it)."""

    folio: int
    issue_date: date
    doc_type: int = 33
    code: int = 1
    reason: str = "Anula documento de referencia"


@dataclass(frozen=True)
class Dte:
    """One tax document. Type 34 is exempt: its `lines` count as exempt."""

    doc_type: int = 33
    folio: int = 1234
    issue_date: date = date(2024, 5, 14)
    issuer_rut: str = DEFAULT_ISSUER_RUT
    issuer_name: str = DEFAULT_ISSUER_NAME
    receiver_rut: str = DEFAULT_RECEIVER_RUT
    receiver_name: str = DEFAULT_RECEIVER_NAME
    lines: Sequence[Line] = DEFAULT_LINES
    exempt_lines: Sequence[Line] = ()
    reference: Reference | None = None
    ted: TedKind = "genuine"  # "forged": stamped for another total; "none": no TED

    def items(self) -> list[tuple[str, float, int, int, bool]]:
        """(name, qty, unit price, amount, exempt) per detail line, in order."""
        taxed_exempt = self.doc_type == 34
        rows = [(*line, taxed_exempt) for line in self.lines]
        rows += [(*line, True) for line in self.exempt_lines]
        return [(n, q, p, _round(Decimal(str(q)) * p), ex) for n, q, p, ex in rows]

    def totals(self) -> dict[str, int]:
        """MntNeto, MntExe, IVA, MntTotal as the XML states them."""
        items = self.items()
        net = sum(amount for *_, amount, exempt in items if not exempt)
        exempt = sum(amount for *_, amount, exempt in items if exempt)
        iva = _round(Decimal(net) * IVA_RATE / 100)
        return {"MntNeto": net, "MntExe": exempt, "IVA": iva, "MntTotal": net + iva + exempt}


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _sub(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = str(text)
    return child


def _fake_b64(*parts: object, size: int = 128) -> str:
    seed = "|".join(map(str, parts)).encode()
    raw = b"".join(hashlib.sha512(seed + bytes([i])).digest() for i in range(size // 64 + 1))
    return base64.b64encode(raw[:size]).decode()


def _qty(qty: float) -> str:
    return str(int(qty)) if float(qty).is_integer() else f"{qty:.6f}".rstrip("0")


def _signature(parent: ET.Element, *seed: object) -> None:
    sig = _sub(parent, "Signature", xmlns=DSIG_NS)
    info = _sub(sig, "SignedInfo")
    _sub(info, "SignatureMethod", Algorithm=DSIG_NS + "rsa-sha1")
    _sub(sig, "SignatureValue", _fake_b64("sig", *seed))


def _group(parent: ET.Element, tag: str, fields: Sequence[tuple[str, object]], **attrs: str) -> ET.Element:
    """A child element holding one text element per (tag, value); None values are left out."""
    group = _sub(parent, tag, **attrs)
    for name, value in fields:
        if value is not None:
            _sub(group, name, value)
    return group


def _dte_element(doc: Dte) -> ET.Element:
    if doc.doc_type in (56, 61) and doc.reference is None:
        raise ValueError(f"a DTE of type {doc.doc_type} needs a reference")
    totals, items, stamp = doc.totals(), doc.items(), f"{doc.issue_date.isoformat()}T10:15:00"
    exempt_doc = doc.doc_type == 34
    dte = ET.Element("DTE", version="1.0")
    documento = _sub(dte, "Documento", ID=f"F{doc.folio}T{doc.doc_type}")
    header = _sub(documento, "Encabezado")
    _group(header, "IdDoc", [("TipoDTE", doc.doc_type), ("Folio", doc.folio), ("FchEmis", doc.issue_date)])
    _group(
        header,
        "Emisor",
        [
            ("RUTEmisor", doc.issuer_rut),
            ("RznSoc", doc.issuer_name),
            ("GiroEmis", "Venta al por mayor de alimentos y artículos de oficina"),
            ("Acteco", 463020),
            ("DirOrigen", "Av. Providencia 1234, Of. 56"),
            ("CmnaOrigen", "Providencia"),
            ("CiudadOrigen", "Santiago"),
        ],
    )
    _group(
        header,
        "Receptor",
        [
            ("RUTRecep", doc.receiver_rut),
            ("RznSocRecep", doc.receiver_name),
            ("GiroRecep", "Comercio minorista"),
            ("DirRecep", "Calle Ñandú 987"),
            ("CmnaRecep", "Ñuñoa"),
            ("CiudadRecep", "Santiago"),
        ],
    )
    # Like most issuers, leave out the amounts that do not apply (no MntExe of 0).
    _group(
        header,
        "Totales",
        [
            ("MntNeto", None if exempt_doc else totals["MntNeto"]),
            ("MntExe", totals["MntExe"] or None),
            ("TasaIVA", None if exempt_doc else IVA_RATE),
            ("IVA", None if exempt_doc else totals["IVA"]),
            ("MntTotal", totals["MntTotal"]),
        ],
    )
    for number, (name, qty, price, amount, exempt) in enumerate(items, start=1):
        _group(
            documento,
            "Detalle",
            [
                ("NroLinDet", number),
                ("IndExe", 1 if exempt else None),
                ("NmbItem", name),
                ("QtyItem", _qty(qty)),
                ("PrcItem", price),
                ("MontoItem", amount),
            ],
        )
    if ref := doc.reference:
        _group(
            documento,
            "Referencia",
            [
                ("NroLinRef", 1),
                ("TpoDocRef", ref.doc_type),
                ("FolioRef", ref.folio),
                ("FchRef", ref.issue_date),
                ("CodRef", ref.code),
                ("RazonRef", ref.reason),
            ],
        )
    add_ted(
        documento,
        issuer_rut=doc.issuer_rut,
        issuer_name=doc.issuer_name,
        doc_type=doc.doc_type,
        folio=doc.folio,
        issue_date=doc.issue_date,
        receiver_rut=doc.receiver_rut,
        receiver_name=doc.receiver_name,
        total=totals["MntTotal"],
        first_item=items[0][0] if items else "",
        stamped_at=stamp,
        kind=doc.ted,
    )
    _sub(documento, "TmstFirma", stamp)
    _signature(dte, doc.issuer_rut, doc.doc_type, doc.folio)
    return dte


def _serialize(root: ET.Element, *, namespace: bool, encoding: str) -> bytes:
    if namespace:
        root.set("xmlns", SII_NS)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    # Characters the encoding lacks become character references: still the same XML.
    return (declaration + body + "\n").encode(encoding, errors="xmlcharrefreplace")


def envio_dte(
    *,
    documents: Sequence[Dte | Mapping[str, object]],
    sender_rut: str = valid_rut(12_345_678),
    resolution_date: date = date(2014, 8, 22),
    resolution_number: int = 80,
    namespace: bool = True,
    encoding: str = "ISO-8859-1",
) -> bytes:
    """An `EnvioDTE` holding several DTE; the Caratula names the first one's parties."""
    docs = [d if isinstance(d, Dte) else Dte(**d) for d in documents]  # type: ignore[arg-type]
    if not docs:
        raise ValueError("an EnvioDTE holds at least one DTE")
    root = ET.Element("EnvioDTE", version="1.0")
    if namespace:
        root.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
        root.set("xsi:schemaLocation", f"{SII_NS} EnvioDTE_v10.xsd")
    set_dte = _sub(root, "SetDTE", ID="SetDoc")
    caratula = _sub(set_dte, "Caratula", version="1.0")
    _sub(caratula, "RutEmisor", docs[0].issuer_rut)
    _sub(caratula, "RutEnvia", sender_rut)
    _sub(caratula, "RutReceptor", docs[0].receiver_rut)
    _sub(caratula, "FchResol", resolution_date)
    _sub(caratula, "NroResol", resolution_number)
    _sub(caratula, "TmstFirmaEnv", f"{max(d.issue_date for d in docs).isoformat()}T10:20:00")
    for doc_type in sorted({d.doc_type for d in docs}):
        sub_tot = _sub(caratula, "SubTotDTE")
        _sub(sub_tot, "TpoDTE", doc_type)
        _sub(sub_tot, "NroDTE", sum(d.doc_type == doc_type for d in docs))
    set_dte.extend([_dte_element(d) for d in docs])
    _signature(root, "envio", *(d.folio for d in docs))
    return _serialize(root, namespace=namespace, encoding=encoding)


def dte_xml(
    *,
    issuer_rut: str = DEFAULT_ISSUER_RUT,
    issuer_name: str = DEFAULT_ISSUER_NAME,
    receiver_rut: str = DEFAULT_RECEIVER_RUT,
    receiver_name: str = DEFAULT_RECEIVER_NAME,
    doc_type: int = 33,
    folio: int = 1234,
    issue_date: date = date(2024, 5, 14),
    lines: Sequence[Line] = DEFAULT_LINES,
    exempt_lines: Sequence[Line] = (),
    reference: Reference | None = None,
    envelope: bool = True,
    namespace: bool = True,
    encoding: str = "ISO-8859-1",
    ted: TedKind = "genuine",
) -> bytes:
    """One DTE, inside an EnvioDTE (`envelope=True`) or as a bare `DTE` root."""
    doc = Dte(
        doc_type=doc_type,
        folio=folio,
        issue_date=issue_date,
        issuer_rut=issuer_rut,
        issuer_name=issuer_name,
        receiver_rut=receiver_rut,
        receiver_name=receiver_name,
        lines=lines,
        exempt_lines=exempt_lines,
        reference=reference,
        ted=ted,
    )
    if envelope:
        return envio_dte(documents=[doc], namespace=namespace, encoding=encoding)
    return _serialize(_dte_element(doc), namespace=namespace, encoding=encoding)


def clp(amount: int) -> str:
    """Chilean pesos as printed on invoices: $1.234.567."""
    return "$" + f"{amount:,}".replace(",", ".")


def invoice_pdf(*, issuer_name: str, folio: int, total: int, pages: int = 1, doc_type: int = 33) -> bytes:
    """A small real PDF (reportlab) that looks like a supplier's printed invoice."""
    from reportlab.lib.pagesizes import LETTER
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=LETTER, invariant=True)
    pdf.setTitle(f"{DOC_NAMES.get(doc_type, 'DTE')} N° {folio}")
    width, height = LETTER
    for page in range(1, pages + 1):
        pdf.setFont("Helvetica-Bold", 18)
        pdf.drawString(60, height - 80, DOC_NAMES.get(doc_type, f"DTE tipo {doc_type}").upper())
        pdf.setFont("Helvetica", 12)
        pdf.drawString(60, height - 110, issuer_name)
        pdf.drawString(60, height - 130, f"Folio N° {folio}")
        pdf.drawString(60, height - 150, f"Total: {clp(total)}")
        pdf.drawRightString(width - 60, 40, f"Página {page} de {pages}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def supplier_email(
    *,
    sender: str = "facturacion@proveedora.cl",
    to: str = "facturas@empresa.cl",
    subject: str | None = None,
    folio: int = 1234,
    doc_type: int = 33,
    issuer_rut: str = DEFAULT_ISSUER_RUT,
    issuer_name: str = DEFAULT_ISSUER_NAME,
    xml: bytes | None = None,
    total: int | None = None,
    message_id: str | None = None,
    sent_at: datetime | None = None,
    body: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """An RFC 5322 message; by default the DTE XML and its PDF are attached.

    `attachments` replaces the default pair with (filename, content type, bytes); pass
    an empty list for a message without attachments.
    """
    kind = DOC_NAMES.get(doc_type, f"DTE tipo {doc_type}")
    if attachments is None:
        if xml is None:
            xml = dte_xml(issuer_rut=issuer_rut, issuer_name=issuer_name, doc_type=doc_type, folio=folio)
        if total is None:
            total = Dte(doc_type=doc_type).totals()["MntTotal"]
        pdf = invoice_pdf(issuer_name=issuer_name, folio=folio, total=total, doc_type=doc_type)
        attachments = [
            (f"DTE_{doc_type}_{issuer_rut}_F{folio}.xml", "application/xml", xml),
            (f"{_PDF_PREFIX.get(doc_type, 'DTE')}_{folio}.pdf", "application/pdf", pdf),
        ]
    message = EmailMessage()
    message["From"] = Address(display_name=issuer_name, addr_spec=sender)
    message["To"] = to
    message["Subject"] = subject or f"Envío de {kind} N° {folio} de {issuer_name}"
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(
        body
        or (
            f"Estimados:\n\nAdjuntamos {kind} N° {folio} emitida por {issuer_name} "
            f"(RUT {issuer_rut}).\n\nSaludos cordiales,\nDepartamento de Facturación\n"
        )
    )
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    if message.is_multipart():
        # A boundary derived from the Message-ID keeps seeded output byte-stable.
        digest = hashlib.sha1(str(message["Message-ID"]).encode()).hexdigest()[:24]
        message.set_boundary(f"=_Part_{digest}")
    return message.as_bytes()


#: (RUT number, name, e-mail domain) of the demo suppliers.
DEMO_SUPPLIERS = (
    (76_086_428, "Proveedora Austral SpA", "proveedora.cl"),
    (96_790_240, "Distribuidora Ñuble S.A.", "nuble.cl"),
    (77_215_683, "Servicios Informáticos Araucanía Ltda.", "araucania-it.cl"),
    (78_945_112, "Transportes Magallanes y Cía.", "tmagallanes.cl"),
    (76_543_210, "Librería y Papelería Concepción SpA", "libreriaconce.cl"),
)
_DEMO_ITEMS = (
    "Resma papel carta",
    "Tóner láser negro",
    "Servicio de despacho",
    "Café de grano",
    "Mantención equipos",
    "Señalética vial",
    "Licencia software anual",
    "Caja archivo",
)
#: Document types in the order the demo mailbox cycles through them.
_DEMO_TYPES = (33, 34, 33, 61, 33)


def write_demo_mailbox(directory: Path, *, count: int = 5, seed: int = 0) -> list[Path]:
    """Write `count` varied supplier e-mails as .eml files; same seed, same bytes."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=-4)))
    invoices: list[tuple[Dte, str]] = []
    paths: list[Path] = []
    for index in range(count):
        sent = start + timedelta(hours=7 * index, minutes=rng.randrange(60))
        doc_type = _DEMO_TYPES[index % len(_DEMO_TYPES)]
        if doc_type == 61 and invoices:
            target, domain = rng.choice(invoices)
            rut, name = target.issuer_rut, target.issuer_name
            reference = Reference(
                folio=target.folio,
                issue_date=target.issue_date,
                doc_type=target.doc_type,
                code=3,
                reason="Devolución parcial",
            )
            lines = [(f"Devolución {target.lines[0][0]}", 1, max(990, target.totals()["MntTotal"] // 3))]
        else:
            number, name, domain = rng.choice(DEMO_SUPPLIERS)
            rut, reference, doc_type = valid_rut(number), None, 33 if doc_type == 61 else doc_type
            lines = [
                (rng.choice(_DEMO_ITEMS), rng.randint(1, 12), rng.randrange(990, 250_000, 10))
                for _ in range(rng.randint(1, 4))
            ]
        doc = Dte(
            doc_type=doc_type,
            folio=rng.randint(1_000, 99_999),
            issue_date=sent.date(),
            issuer_rut=rut,
            issuer_name=name,
            lines=lines,
            reference=reference,
        )
        if doc_type != 61:
            invoices.append((doc, domain))
        # Vary the shapes real suppliers send: envelope or bare, namespace or not, encodings.
        namespace, encoding = index % 5 != 4, ("ISO-8859-1", "windows-1252", "UTF-8")[index % 3]
        xml = (
            _serialize(_dte_element(doc), namespace=namespace, encoding=encoding)
            if index % 3 == 2
            else envio_dte(documents=[doc], namespace=namespace, encoding=encoding)
        )
        data = supplier_email(
            sender=f"facturacion@{domain}",
            folio=doc.folio,
            doc_type=doc_type,
            issuer_rut=rut,
            issuer_name=name,
            xml=xml,
            total=doc.totals()["MntTotal"],
            sent_at=sent,
            message_id=f"<demo-{seed}-{index}.{doc.folio}@{domain}>",
        )
        path = directory / f"{index + 1:03d}_DTE_{doc_type}_{rut}_F{doc.folio}.eml"
        path.write_bytes(data)
        paths.append(path)
    return paths
