"""What receivers answer about DTE: the SII's RespuestaDTE and EnvioRecibos, one ParsedResponse per DTE.

A RespuestaDTE's Resultado holds RecepcionEnvio (an envelope received, EstadoRecepEnv), each with a
RecepcionDTE per DTE in it (EstadoRecepDTE: 0 received, 1-4 and 99 not), and ResultadoDTE rows (the
commercial answer, EstadoDTE: 0 accepted, 1 accepted with discrepancies, 2 rejected). An EnvioRecibos'
SetRecibos holds a Recibo per DTE whose goods or services were received (Ley 19.983). Both are sent to
the DTE's issuer, whom their Caratula names as RutRecibe.

A value that is not what its field holds is a problem recorded on the file, never an exception; a row
that names no DTE (no type, folio or issuer) is left out, and said.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from .chile_clock import CHILE, FixedOffset
from .model import ParsedFile, ParsedResponse
from .rut import parse_rut
from .sii_xml import child, children, path, read_date, text
from .values import MAX_DOC_TYPE, MAX_FOLIO, MAX_SMALL_INT, Values
from .xmlsafe import local_name

RECEPTION, RESULT, RECEIPT = "reception", "result", "receipt"
#: Rows (and the Resultado and RecepcionEnvio that hold them) read of one file; an EnvioDTE the SII accepts
#: holds at most 2,000 DTE. A hostile file of a million rows must not become a million rows, nor problems.
MAX_RESPONSES = 5_000
#: Years a signing time may name: electronic invoicing began in 2003, and an instant near the calendar's ends
#: is not displayable in every time zone the site may be set to (year 1 west of Chile is year 0).
SIGNED_YEARS = range(1990, 3000)


def read_response(root: etree._Element, result: ParsedFile) -> None:
    """The rows of a RespuestaDTE into `result.responses`, its summary and problems."""
    answers = [e for e in root.iter() if local_name(e) in ("RecepcionDTE", "ResultadoDTE")]
    budget = _Budget()
    for index, resultado in enumerate(children(root, "Resultado"), start=1):
        if not budget.take():
            break
        values = Values(f"Resultado #{index}: ")
        caratula = child(resultado, "Caratula")
        answered_at = _instant(text(caratula, "TmstFirmaResp"), "TmstFirmaResp", values)
        common = _Common(caratula, answered_at, values)
        for number, envelope in enumerate(children(resultado, "RecepcionEnvio"), start=1):
            if not budget.take():
                break
            _envelope(envelope, number, common, result, budget)
        for number, row in enumerate(children(resultado, "ResultadoDTE"), start=1):
            if not budget.take():
                break
            where = values.within(f"ResultadoDTE #{number}: ")
            code = where.whole(text(row, "EstadoDTE"), "EstadoDTE", high=MAX_SMALL_INT)
            glosa = text(row, "EstadoDTEGlosa")
            _append(result, common.response(RESULT, row, "TipoDTE", where, code=code, status=glosa))
        result.problems.extend(values.problems)
    _say_dropped(result, budget, len(answers))
    sender = text(path(root, "Resultado", "Caratula"), "RutResponde")
    result.summary = f"RespuestaDTE from {sender or 'unknown RUT'}: {len(answers)} result(s)"


def read_receipts(root: etree._Element, result: ParsedFile) -> None:
    """The Recibos of an EnvioRecibos into `result.responses`, its summary and problems."""
    receipts = [e for e in root.iter() if local_name(e) == "Recibo"]
    budget = _Budget()
    set_recibos = child(root, "SetRecibos")
    values = Values("SetRecibos: ")
    caratula = child(set_recibos, "Caratula")
    sent_at = _instant(text(caratula, "TmstFirmaEnv"), "TmstFirmaEnv", values)
    for number, recibo in enumerate(children(set_recibos, "Recibo"), start=1):
        if not budget.take():
            break
        where = values.within(f"Recibo #{number}: ")
        document = child(recibo, "DocumentoRecibo")
        signer = parse_rut(text(document, "RutFirma"))
        if signer.raw and not signer.valid:
            where.problems.append(f"{where.where}RutFirma: {signer.reason}")
        signed_at = _instant(text(document, "TmstFirmaRecibo"), "TmstFirmaRecibo", where) or sent_at
        common = _Common(caratula, signed_at, where, responder=signer.normalized)
        _append(
            result, common.response(RECEIPT, document, "TipoDoc", where, code=None, status=text(document, "Recinto"))
        )
    result.problems.extend(values.problems)
    _say_dropped(result, budget, len(receipts))
    sender = text(caratula, "RutResponde")
    result.summary = f"EnvioRecibos from {sender or 'unknown RUT'}: {len(receipts)} receipt(s)"


def _envelope(envelope: etree._Element, number: int, common: _Common, result: ParsedFile, budget: _Budget) -> None:
    """The RecepcionDTE of one RecepcionEnvio; an envelope refused whole names no DTE, and is said."""
    values = common.values.within(f"RecepcionEnvio #{number}: ")
    envelope_code = values.whole(text(envelope, "EstadoRecepEnv"), "EstadoRecepEnv", high=MAX_SMALL_INT)
    envelope_glosa = text(envelope, "RecepEnvGlosa")
    rows = children(envelope, "RecepcionDTE")
    if not rows and envelope_code:
        name = text(envelope, "NmbEnvio") or text(envelope, "EnvioDTEID") or "the envelope"
        values.problems.append(
            f"{values.where}{name[:80]} was refused (EstadoRecepEnv {envelope_code} {envelope_glosa[:80]!r}) "
            "and names no DTE"
        )
    envelope_issuer = text(envelope, "RutEmisor")
    for index, row in enumerate(rows, start=1):
        if not budget.take():
            break
        where = values.within(f"RecepcionDTE #{index}: ")
        code = where.whole(text(row, "EstadoRecepDTE"), "EstadoRecepDTE", high=MAX_SMALL_INT)
        if code is None and not text(row, "EstadoRecepDTE"):  # the envelope's state is its DTE's
            code, glosa = envelope_code, envelope_glosa
        else:
            glosa = text(row, "RecepDTEGlosa")
        response = common.response(RECEPTION, row, "TipoDTE", where, code=code, status=glosa, issuer=envelope_issuer)
        _append(result, response)


class _Common:
    """What the rows of one Resultado or SetRecibos share: who answers, to whom, and when."""

    def __init__(
        self, caratula: etree._Element | None, answered_at: datetime | None, values: Values, responder: str = ""
    ) -> None:
        self.values = values
        self.answered_at = answered_at
        rut_responde = parse_rut(text(caratula, "RutResponde"))
        self.responder = rut_responde.normalized or responder
        #: Who the answer is sent to: the DTE's issuer, when a row does not name it.
        self.recipient = text(caratula, "RutRecibe")

    def response(
        self,
        kind: str,
        row: etree._Element | None,
        type_name: str,
        values: Values,
        *,
        code: int | None,
        status: str,
        issuer: str = "",
    ) -> ParsedResponse | None:
        """The row as a ParsedResponse; None (and noted) when it lacks the type, folio or issuer of a DTE."""
        doc_type = values.whole(text(row, type_name), type_name, low=1, high=MAX_DOC_TYPE)
        folio = values.whole(text(row, "Folio"), "Folio", low=1, high=MAX_FOLIO)
        issuer_rut = parse_rut(text(row, "RUTEmisor") or issuer or self.recipient)
        receiver_rut = parse_rut(text(row, "RUTRecep"))
        key = ((type_name, doc_type), ("Folio", folio), ("RUTEmisor", issuer_rut.normalized or None))
        missing = [name for name, value in key if value is None]
        if doc_type is None or folio is None or missing:
            values.problems.append(f"{values.where}no readable {', '.join(missing)}; not linked to any document")
            return None
        for name, rut in (("RUTEmisor", issuer_rut), ("RUTRecep", receiver_rut)):
            if rut.raw and not rut.valid:
                values.problems.append(f"{values.where}{name}: {rut.reason}")
        return ParsedResponse(
            kind=kind,
            issuer_rut=issuer_rut.normalized,
            doc_type=doc_type,
            folio=folio,
            issue_date=read_date(text(row, "FchEmis"), "FchEmis", values),
            total=values.amount(text(row, "MntTotal"), "MntTotal"),
            receiver_rut=receiver_rut.normalized,
            responder_rut=self.responder,
            status_code=code,
            status_text=status,
            answered_at=self.answered_at,
        )


def _append(result: ParsedFile, response: ParsedResponse | None) -> None:
    if response is not None:
        result.responses.append(response)


class _Budget:
    """The elements one file may still have read, kept or left out: MAX_RESPONSES in all."""

    def __init__(self) -> None:
        self.left = MAX_RESPONSES

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _say_dropped(result: ParsedFile, budget: _Budget, rows: int) -> None:
    if budget.left < 0:
        result.problems.append(f"{rows} answers; only the first are read (at most {MAX_RESPONSES} rows)")


def _instant(value: str, name: str, values: Values) -> datetime | None:
    """A TmstFirma* as an instant on Chile's clock (as aec reads TmstCesion); one without an offset is
    Santiago's local time: a repeated hour is its first, a skipped one is read with the offset before."""
    try:
        stamp = datetime.fromisoformat(value) if value else None
    except ValueError:
        values.note(name, value, "is not a date and time; left blank")
        return None
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=CHILE)
    try:
        on_chiles_clock = stamp.astimezone(UTC).astimezone(CHILE)
    except OverflowError:  # year 1 or 9999 moved past the calendar's ends
        on_chiles_clock = None
    if on_chiles_clock is None or on_chiles_clock.year not in SIGNED_YEARS:
        values.note(name, value, "is not an instant the calendar holds; left blank")
        return None
    offset = on_chiles_clock.utcoffset()
    assert offset is not None  # CHILE names one for every instant
    return on_chiles_clock.replace(tzinfo=FixedOffset(offset))
