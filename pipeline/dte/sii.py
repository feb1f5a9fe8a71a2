"""Chile's SII DTE in XML: EnvioDTE/EnvioBOLETA, bare DTE, RespuestaDTE, EnvioRecibos.

Elements are matched by local name, so files with and without the SII namespace read
the same. A DTE that lacks its type or folio is reported as a problem, the others in
the same envelope are still read.
"""

from __future__ import annotations

import dataclasses

from lxml import etree

from . import arithmetic
from .kinds import DOC_TYPES
from .model import Kind, ParsedDocument, ParsedFile, ParsedReference
from .registry import Format, Payload, register
from .rut import parse_rut
from .signature import signature_check
from .sii_lines import read_line, read_terms
from .sii_money import read_discounts, read_money
from .sii_responses import read_receipts, read_response
from .sii_xml import child as _child
from .sii_xml import children as _children
from .sii_xml import iso_date as _date
from .sii_xml import text as _text
from .ted import flattened, ted_check
from .values import MAX_DOC_TYPE, MAX_FOLIO, MAX_SMALL_INT, Values, whole
from .xmlsafe import XmlRejected, local_name, namespace

FORMAT = "cl-sii-xml"
#: Lines kept of one DTE (the SII allows 60 in a factura, 1,000 in a boleta): a hostile 83,000-line
#: file is checked whole in the sandbox but must not reach the worker, its rows and printable whole.
MAX_LINES = 1_000
SII_NS = "http://www.sii.cl/SiiDte"

_ROOTS = {
    "EnvioDTE": Kind.ENVELOPE,
    "EnvioBOLETA": Kind.ENVELOPE,
    "DTE": Kind.DOCUMENT,
    "RespuestaDTE": Kind.RESPONSE,
    "EnvioRecibos": Kind.RECEIPTS,
}
#: Children of <DTE> that hold the document proper.
_BODIES = ("Documento", "Liquidacion", "Exportaciones")


def type_name(code: int) -> str:
    return DOC_TYPES.get(code, f"DTE tipo {code}")


def _detect(payload: Payload) -> bool:
    if not payload.looks_like_xml:
        return False
    try:
        root = payload.xml_root
    except XmlRejected:
        # Only claim a broken file when it names itself as ours in its first bytes.
        head = payload.data[:2048]
        return any(name.encode() in head for name in _ROOTS) or SII_NS.encode() in head
    return local_name(root) in _ROOTS and namespace(root) in ("", SII_NS)


# -- the parser ------------------------------------------------------------------------------


def _parse(payload: Payload) -> ParsedFile:
    root = payload.xml_root  # XmlRejected propagates to the registry, which records it
    root_name = local_name(root)
    kind = _ROOTS[root_name]
    result = ParsedFile(format=FORMAT, kind=kind)
    if kind is Kind.RESPONSE:
        read_response(root, result)
        return result
    if kind is Kind.RECEIPTS:
        read_receipts(root, result)
        return result
    if kind is Kind.ENVELOPE:
        set_dte = _child(root, "SetDTE")
        caratula = _child(set_dte, "Caratula")
        values = Values("Caratula: ")
        result.resolution_number = values.whole(_text(caratula, "NroResol"), "NroResol")
        result.problems.extend(values.problems)
        result.resolution_date = _date(_text(caratula, "FchResol"))
        dtes = _children(set_dte, "DTE")
        if not dtes:
            result.problems.append(f"{root_name} holds no DTE")
    else:
        dtes = [root]
    for position, dte in enumerate(dtes):
        try:
            result.documents.append(_document(dte, position, result))
        except ValueError as exc:
            result.problems.append(f"DTE #{position + 1}: {exc}")
    count = len(result.documents)
    result.summary = (
        f"{root_name} with {count} DTE"
        if kind is Kind.ENVELOPE
        else f"DTE {', '.join(f'{d.doc_type}-{d.folio}' for d in result.documents) or '(unreadable)'}"
    )
    return result


def _document(dte: etree._Element, position: int, envelope: ParsedFile) -> ParsedDocument:
    body = next((c for c in dte if local_name(c) in _BODIES), None)
    header = _child(body, "Encabezado")
    if header is None:
        raise ValueError("no Documento/Encabezado")
    id_doc, issuer, receiver, totals = (_child(header, n) for n in ("IdDoc", "Emisor", "Receptor", "Totales"))
    doc_type = whole(_text(id_doc, "TipoDTE"), low=1, high=MAX_DOC_TYPE)
    folio = whole(_text(id_doc, "Folio"), low=1, high=MAX_FOLIO)
    if doc_type is None or folio is None:
        raise ValueError(
            f"no valid TipoDTE/Folio (TipoDTE={_text(id_doc, 'TipoDTE')[:40]!r}, Folio={_text(id_doc, 'Folio')[:40]!r})"
        )
    values = Values(f"DTE #{position + 1}: ")
    issuer_rut, receiver_rut = parse_rut(_text(issuer, "RUTEmisor")), parse_rut(_text(receiver, "RUTRecep"))
    lines = tuple(read_line(d, values.within(f"line {i}: ")) for i, d in enumerate(_children(body, "Detalle"), start=1))
    money = read_money(totals, _child(header, "OtraMoneda"), doc_type, values)
    discounts = read_discounts(_children(body, "DscRcgGlobal"), lines, money["currency"], values)
    references = tuple(
        _reference(r, i, values.within(f"reference {i}: "))
        for i, r in enumerate(_children(body, "Referencia"), start=1)
    )
    ted = _child(body, "TED")
    address = ", ".join(
        filter(None, (_text(issuer, "DirOrigen"), _text(issuer, "CmnaOrigen"), _text(issuer, "CiudadOrigen")))
    )
    receiver_address = ", ".join(
        filter(None, (_text(receiver, "DirRecep"), _text(receiver, "CmnaRecep"), _text(receiver, "CiudadRecep")))
    )
    document = ParsedDocument(
        country="CL",
        doc_type=doc_type,
        type_name=type_name(doc_type),
        folio=folio,
        issue_date=_date(_text(id_doc, "FchEmis")),
        issuer_rut=issuer_rut.normalized,
        issuer_rut_valid=issuer_rut.valid,
        issuer_rut_error=issuer_rut.reason,
        issuer_name=_text(issuer, "RznSoc") or _text(issuer, "RznSocEmisor"),
        issuer_activity=_text(issuer, "GiroEmis") or _text(issuer, "GiroEmisor"),
        issuer_address=address,
        receiver_rut=receiver_rut.normalized,
        receiver_rut_valid=receiver_rut.valid,
        receiver_name=_text(receiver, "RznSocRecep"),
        receiver_activity=_text(receiver, "GiroRecep"),
        receiver_address=receiver_address,
        lines=lines,
        discounts=discounts,
        **money,
        **read_terms(id_doc, doc_type, values),
        references=references,
        ted=flattened(ted) if ted is not None else b"",  # as the PDF417 carries it
        resolution_number=envelope.resolution_number,
        resolution_date=envelope.resolution_date,
        position=position,
    )
    checked = dataclasses.replace(
        document,
        discrepancies=arithmetic.check(document),
        # Here, in the file's own tree: the signature's canonical form depends on the namespaces around the DTE.
        ted_check=ted_check(ted, document),
        signature_check=signature_check(dte),
    )
    if len(lines) > MAX_LINES:  # checked on every line; kept beyond the worker's reach only in the XML
        values.problems.append(
            f"DTE #{position + 1}: {len(lines)} lines; the first {MAX_LINES} are kept, the XML holds them all"
        )
        checked = dataclasses.replace(checked, lines=lines[:MAX_LINES], lines_total=len(lines))
    envelope.problems.extend(values.problems)  # the document is kept; what could not be read is said
    return checked


def _reference(reference: etree._Element, index: int, values: Values) -> ParsedReference:
    return ParsedReference(
        line=values.whole(_text(reference, "NroLinRef"), "NroLinRef", low=1) or index,
        ref_type=values.code_text(_text(reference, "TpoDocRef"), "TpoDocRef"),
        ref_folio=values.code_text(_text(reference, "FolioRef"), "FolioRef"),
        ref_date=_date(_text(reference, "FchRef")),
        code=values.whole(_text(reference, "CodRef"), "CodRef", high=MAX_SMALL_INT),
        reason=_text(reference, "RazonRef"),
    )


register(Format(name=FORMAT, detect=_detect, parse=_parse))
