"""Chile's AEC (Archivo Electrónico de Cesión, SII AEC v1.0): an invoice sold to a factoring company.

AEC/DocumentoAEC/Cesiones holds the signed invoice (DTECedido/DocumentoDTECedido/DTE), read as
the SII parser reads any DTE, and one Cesion per sale of it: the first by the issuer, each next
one by the previous buyer; the highest SeqCesion names its present owner. Elements are matched
by local name, so files with and without the SII namespace read the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from lxml import etree

from . import sii
from .chile_clock import CHILE, FixedOffset
from .model import Kind, ParsedAssignment, ParsedDocument, ParsedFile
from .registry import Format, Payload, register
from .rut import parse_rut
from .values import MAX_DOC_TYPE, MAX_FOLIO, MAX_SMALL_INT, Values
from .xmlsafe import XmlRejected, local_name, namespace

FORMAT = "cl-sii-aec"


def _detect(payload: Payload) -> bool:
    if not payload.looks_like_xml:
        return False
    try:
        root = payload.xml_root
    except XmlRejected:
        return False  # a broken file is refused alike whoever claims it
    return local_name(root) == "AEC" and namespace(root) in ("", sii.SII_NS)


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    return next((child for child in element if local_name(child) == name), None)


def _path(element: etree._Element | None, *names: str) -> etree._Element | None:
    for name in names:
        element = _child(element, name)
    return element


def _text(element: etree._Element | None, *names: str) -> str:
    found = _path(element, *names)
    return (found.text or "").strip() if found is not None else ""


def _parse(payload: Payload) -> ParsedFile:
    result = ParsedFile(format=FORMAT, kind=Kind.ASSIGNMENT)
    cessions = _path(payload.xml_root, "DocumentoAEC", "Cesiones")
    dte = _path(cessions, "DTECedido", "DocumentoDTECedido", "DTE")
    document = None
    if dte is None:
        result.problems.append("AEC holds no DTECedido/DocumentoDTECedido/DTE")
    else:
        try:
            document = sii._document(dte, 0, result)
            result.documents.append(document)
        except ValueError as exc:
            result.problems.append(f"DTECedido: {exc}")
    elements = [] if cessions is None else [c for c in cessions if local_name(c) == "Cesion"]
    for index, element in enumerate(elements, start=1):
        values = Values(f"Cesion #{index}: ")
        assignment = _assignment(_child(element, "DocumentoCesion"), values)
        if assignment is not None and document is not None:
            _compare(assignment, document, values)
        result.problems.extend(values.problems)
        if assignment is not None:
            result.assignments.append(assignment)
    if not elements:
        result.problems.append("AEC holds no Cesion")
    result.assignments.sort(key=lambda assignment: assignment.sequence)
    result.summary = _summary(result.assignments, document)
    return result


def _assignment(cession: etree._Element | None, values: Values) -> ParsedAssignment | None:
    """The Cesion, or None (the reason noted) when it lacks what identifies it: SeqCesion and its DTE's key."""
    id_dte = _child(cession, "IdDTE")
    sequence = values.whole(_text(cession, "SeqCesion"), "SeqCesion", low=1, high=MAX_SMALL_INT)
    doc_type = values.whole(_text(id_dte, "TipoDTE"), "TipoDTE", low=1, high=MAX_DOC_TYPE)
    folio = values.whole(_text(id_dte, "Folio"), "Folio", low=1, high=MAX_FOLIO)
    issuer = parse_rut(_text(id_dte, "RUTEmisor"))
    key = (("SeqCesion", sequence), ("IdDTE/TipoDTE", doc_type), ("IdDTE/Folio", folio))
    missing = [name for name, value in key if value is None] + ([] if issuer.normalized else ["IdDTE/RUTEmisor"])
    if sequence is None or doc_type is None or folio is None or missing:
        values.problems.append(f"{values.where}no readable {', '.join(missing)}; skipped")
        return None
    assignor, assignee = _child(cession, "Cedente"), _child(cession, "Cesionario")
    assignor_rut, assignee_rut = parse_rut(_text(assignor, "RUT")), parse_rut(_text(assignee, "RUT"))
    for who, rut in (("IdDTE/RUTEmisor", issuer), ("Cedente/RUT", assignor_rut), ("Cesionario/RUT", assignee_rut)):
        if not rut.valid:
            values.problems.append(f"{values.where}{who}: {rut.reason}")
    return ParsedAssignment(
        sequence=sequence,
        issuer_rut=issuer.normalized,
        doc_type=doc_type,
        folio=folio,
        issue_date=_date(_text(id_dte, "FchEmis"), "FchEmis", values),
        invoice_total=values.amount(_text(id_dte, "MntTotal"), "MntTotal"),
        assignor_rut=assignor_rut.normalized,
        assignor_name=_text(assignor, "RazonSocial"),
        assignee_rut=assignee_rut.normalized,
        assignee_name=_text(assignee, "RazonSocial"),
        assignee_email=_text(assignee, "eMail"),
        amount=values.amount(_text(cession, "MontoCesion"), "MontoCesion"),
        assigned_at=_instant(_text(cession, "TmstCesion"), values),
        last_due_date=_date(_text(cession, "UltimoVencimiento"), "UltimoVencimiento", values),
    )


def _date(text: str, name: str, values: Values) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        values.note(name, text, "is not a date; left blank")
        return None


def _instant(text: str, values: Values) -> datetime | None:
    """TmstCesion as an instant on Chile's clock; one without an offset is Santiago's local time.

    A local time the clocks show twice (the hour repeated when summer time ends) is the first one;
    one they skip (the hour lost when it starts) is read with the offset before the change.
    """
    try:
        stamp = datetime.fromisoformat(text) if text else None
    except ValueError:
        values.note("TmstCesion", text, "is not a date and time; left blank")
        return None
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=CHILE)
    on_chiles_clock = stamp.astimezone(UTC).astimezone(CHILE)
    offset = on_chiles_clock.utcoffset()
    assert offset is not None  # CHILE names one for every instant
    # A fixed offset, not CHILE: an instant of the repeated hour then equals itself on any other clock.
    return on_chiles_clock.replace(tzinfo=FixedOffset(offset))


def _compare(assignment: ParsedAssignment, document: ParsedDocument, values: Values) -> None:
    """Notes a Cesion whose IdDTE names another invoice than the one the file carries."""
    named = (assignment.doc_type, assignment.folio, assignment.issuer_rut)
    carried = (document.doc_type, document.folio, document.issuer_rut)
    if named != carried:
        values.problems.append(
            f"{values.where}IdDTE names {named[0]}-{named[1]} of {named[2]}, "
            f"the DTE carried is {carried[0]}-{carried[1]} of {carried[2]}"
        )


def _summary(assignments: list[ParsedAssignment], document: ParsedDocument | None) -> str:
    latest = assignments[-1] if assignments else None
    if latest is not None:
        invoice = f"{latest.doc_type}-{latest.folio} of {latest.issuer_rut}"
        return f"AEC: {invoice} assigned to {latest.assignee_name or latest.assignee_rut or 'unknown assignee'}"
    if document is not None:
        return f"AEC: {document.doc_type}-{document.folio} of {document.issuer_rut} (no readable cesión)"
    return "AEC (unreadable)"


register(Format(name=FORMAT, detect=_detect, parse=_parse))
