"""What a parser understood from one file: plain dataclasses shared by every country's parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class Kind(StrEnum):
    """What a file is, by its root: only ENVELOPE and DOCUMENT carry invoices."""

    ENVELOPE = "envelope"  # EnvioDTE / EnvioBOLETA: one or several DTE
    DOCUMENT = "document"  # a bare DTE
    RESPONSE = "response"  # RespuestaDTE: a receiver's acceptance or rejection
    RECEIPTS = "receipts"  # EnvioRecibos: acknowledgement of goods received (Ley 19.983)
    ASSIGNMENT = "assignment"  # AEC: an invoice sold (cedida) to a factoring company
    OTHER = "other"  # well-formed XML no parser claims
    INVALID = "invalid"  # refused: not well-formed, truncated, DTD, too large


class CheckState(StrEnum):
    """The outcome of one check of a copy: its TED (timbre) or its XML signature."""

    VALID = "valid"
    INVALID = "invalid"  # checked, and it does not hold: `reason` says what
    MISSING = "missing"  # the document carries nothing to check
    UNCHECKED = "unchecked"  # not checked (a form we cannot check): `reason` says why


@dataclass(frozen=True, slots=True)
class Check:
    state: CheckState = CheckState.UNCHECKED
    #: For people, in English, never a path or a key: "FRMT does not verify with the CAF's key".
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A `Detalle`. Quantities, prices and amounts are in the document's own currency, as written."""

    name: str
    quantity: str = ""
    unit_price: str = ""
    #: MontoItem: whole pesos in a peso document, up to 4 decimals (USD 1234.56) in a foreign one.
    amount: Decimal | None = None
    number: int | None = None  # NroLinDet
    code: str = ""  # CdgItem/VlrCodigo (the first)
    description: str = ""  # DscItem
    unit: str = ""  # UnmdItem
    discount_percent: Decimal | None = None  # DescuentoPct
    discount_amount: Decimal | None = None  # DescuentoMonto
    surcharge_percent: Decimal | None = None  # RecargoPct
    surcharge_amount: Decimal | None = None  # RecargoMonto
    #: IndExe: 1 exempt, 2 not billable, 3 guarantee deposit, 4 not a sale, 5 to deduct, 6 not billable negative.
    exemption_code: int | None = None
    additional_tax_code: int | None = None  # CodImpAdic (the first)

    @property
    def exempt(self) -> bool:
        return self.exemption_code == 1


@dataclass(frozen=True, slots=True)
class ParsedTax:
    """An `ImptoReten` row: an additional tax that adds to the total, or a retention that subtracts."""

    code: int  # TipoImp
    name: str  # the SII's name for the code (taxes.py)
    rate: Decimal | None  # TasaImp, percent
    amount: Decimal | None  # MontoImp, in the document's own currency
    withheld: bool  # a retention (VAT withheld by the buyer): subtracts from the total


@dataclass(frozen=True, slots=True)
class ParsedDiscount:
    """A `DscRcgGlobal`: a global discount (D) or surcharge (R) on the afecto or exempt lines."""

    line: int  # NroLinDR
    surcharge: bool  # TpoMov R (else D)
    description: str  # GlosaDR
    percent: bool  # TpoValor %, else $ (an amount)
    value: Decimal  # ValorDR (ValorDROtrMnda ignored)
    #: IndExeDR: None on the afecto lines, 1 on the exempt ones, 2 on the not billable ones.
    exemption_code: int | None = None
    #: What it takes off (or adds), in the document's own currency, rounded as the SII rounds.
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ParsedPayment:
    """An instalment of `MntPagos`."""

    due: date | None  # FchPago
    amount: Decimal | None  # MntPago
    note: str = ""  # GlosaPagos


@dataclass(frozen=True, slots=True)
class ForeignAmounts:
    """Amounts in a currency other than pesos: the Totales of an export document (110, 111, 112), or the
    OtraMoneda block of a peso document. `currency` is ISO 4217 ("USD"); `name` is the SII's TpoMoneda."""

    currency: str
    name: str
    exchange_rate: Decimal | None  # TpoCambio: pesos per unit
    net: Decimal | None = None
    exempt: Decimal | None = None
    vat: Decimal | None = None
    total: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One sum of a document that does not add up: `expected` is what its parts give."""

    what: str  # "net", "vat", "total", "line 3", ...
    stated: Decimal
    expected: Decimal

    @property
    def difference(self) -> Decimal:
        return self.stated - self.expected


@dataclass(frozen=True, slots=True)
class ParsedReference:
    """A `Referencia`: ref_folio is text, as it may name a purchase order ("OC-55")."""

    line: int
    ref_type: str
    ref_folio: str
    ref_date: date | None = None
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    country: str
    doc_type: int
    type_name: str
    folio: int
    issue_date: date | None
    issuer_rut: str
    issuer_rut_valid: bool
    issuer_rut_error: str
    issuer_name: str
    receiver_rut: str
    receiver_rut_valid: bool
    receiver_name: str
    #: Pesos, whatever the document's currency: the Totales of a peso document; of a foreign one, its
    #: OtraMoneda in pesos, else its own amounts at its exchange rate (rounded; the problem noted).
    net: int | None
    exempt: int | None
    vat: int | None
    total: int | None
    issuer_activity: str = ""
    issuer_address: str = ""
    receiver_activity: str = ""
    receiver_address: str = ""
    lines: tuple[ParsedLine, ...] = ()
    references: tuple[ParsedReference, ...] = ()
    #: The `<TED>` as the barcode carries it: ISO-8859-1 bytes, no namespace, no indentation.
    ted: bytes = b""
    resolution_number: int | None = None
    resolution_date: date | None = None
    #: Position of this DTE inside its file (0 for a bare DTE).
    position: int = 0
    #: ISO 4217 code of the currency of Totales ("CLP" unless TpoMoneda says otherwise).
    currency: str = "CLP"
    #: The amounts in the currency other than pesos, when the document states any.
    foreign: ForeignAmounts | None = None
    vat_rate: Decimal | None = None  # TasaIVA, percent
    vat_not_withheld: int | None = None  # IVANoRet, pesos
    taxes: tuple[ParsedTax, ...] = ()
    #: Sums over `taxes`, in pesos: what adds to the total and what the buyer withholds.
    other_taxes: int | None = None
    vat_withheld: int | None = None
    special_credit: int | None = None  # CredEC: construction companies' credit, subtracts
    deposit_guarantee: int | None = None  # GrntDep: containers' deposit, adds
    non_billable: int | None = None  # MontoNF
    period_amount: int | None = None  # MontoPeriodo
    previous_balance: int | None = None  # SaldoAnterior
    amount_due: int | None = None  # VlrPagar
    discounts: tuple[ParsedDiscount, ...] = ()
    #: FmaPago: 1 contado, 2 crédito, 3 sin costo (entrega gratuita).
    payment_form: int | None = None
    due_date: date | None = None  # FchVenc
    payments: tuple[ParsedPayment, ...] = ()
    #: IndTraslado of a guide (52): 1 sale, 2 sale to be made, 3 consignment, 4 free delivery, 5 internal
    #: transfer, 6 other non-sale transfer, 7 return guide, 8 export transfer, 9 export sale.
    transfer_kind: int | None = None
    #: IdDoc/MntBruto=1 (and a boleta's lines, unless IndMntNeto=2): line amounts and global discounts
    #: include VAT, so the net is their sum divided by (1 + VAT rate).
    amounts_include_vat: bool = False
    #: What does not add up, after the SII's rounding; empty when it all does (or there was nothing to check).
    discrepancies: tuple[Discrepancy, ...] = ()
    #: How many lines the XML holds when `lines` keeps only the first of them (sii.MAX_LINES).
    lines_total: int | None = None
    #: The timbre: FRMT by the CAF's key over the DD, the CAF's range, the DD against the header.
    ted_check: Check = Check()
    #: The DTE's own XML signature (over its Documento): a signal, never a reason to refuse.
    signature_check: Check = Check()

    @property
    def line_count(self) -> int:
        return len(self.lines) if self.lines_total is None else self.lines_total


@dataclass(frozen=True, slots=True)
class ParsedAssignment:
    """A `Cesion` of an AEC: who sold (assignor) which invoice to whom (assignee), for how much, when."""

    sequence: int  # SeqCesion: the highest is the invoice's present owner
    issuer_rut: str  # of the invoice (IdDTE/RUTEmisor), normalized as parse_rut does
    doc_type: int
    folio: int
    issue_date: date | None
    invoice_total: int | None  # IdDTE/MntTotal
    assignor_rut: str  # Cedente/RUT
    assignor_name: str
    assignee_rut: str  # Cesionario/RUT
    assignee_name: str
    assignee_email: str
    amount: int | None  # MontoCesion
    assigned_at: datetime | None  # TmstCesion, an instant (aware; Chile's offset when it names none)
    last_due_date: date | None  # UltimoVencimiento


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """What a receiver said of one DTE: a RespuestaDTE's RecepcionDTE (the file arrived) or ResultadoDTE
    (accepted or rejected), or an EnvioRecibos' Recibo (goods or services received, Ley 19.983)."""

    kind: str  # "reception", "result" or "receipt"
    issuer_rut: str  # RUTEmisor of the DTE answered, normalized as parse_rut does
    doc_type: int
    folio: int
    issue_date: date | None  # FchEmis
    total: int | None  # MntTotal
    receiver_rut: str  # RUTRecep
    responder_rut: str  # Caratula/RutResponde
    #: EstadoRecepDTE or EstadoDTE (0 accepted; other codes reject or note); None for a Recibo.
    status_code: int | None
    status_text: str  # RecepDTEGlosa / EstadoDTEGlosa / Recinto of a Recibo
    answered_at: datetime | None  # TmstFirmaResp / TmstFirmaRecibo, an instant (aware)


@dataclass
class ParsedFile:
    format: str
    kind: Kind
    documents: list[ParsedDocument] = field(default_factory=list)
    #: One line for people: "EnvioDTE with 3 DTE", "RespuestaDTE from 76086428-5".
    summary: str = ""
    #: Why the file (or part of it) was not understood; empty when all went well.
    problems: list[str] = field(default_factory=list)
    resolution_number: int | None = None
    resolution_date: date | None = None
    #: The cesiones of an AEC file (Kind.ASSIGNMENT); the DTE it carries is in `documents`.
    assignments: list[ParsedAssignment] = field(default_factory=list)
    #: What a RespuestaDTE or EnvioRecibos says of each DTE it answers (Kind.RESPONSE, Kind.RECEIPTS).
    responses: list[ParsedResponse] = field(default_factory=list)
