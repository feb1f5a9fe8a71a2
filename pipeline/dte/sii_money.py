"""A DTE's money: Totales (with its ImptoReten rows), OtraMoneda and the global discounts (DscRcgGlobal).

Totales is in the currency its TpoMoneda names (pesos when it names none). The peso fields of
ParsedDocument are always pesos: of a foreign-currency document (110, 111, 112) they come from its
OtraMoneda block in PESO CL, else from its own amounts at its exchange rate (noted), else are blank
(noted). Amounts in a foreign currency keep their decimals, as Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TypedDict

from lxml import etree

from .model import ForeignAmounts, ParsedDiscount, ParsedLine, ParsedTax
from .sii_xml import children, note_unheld, text
from .taxes import tax_code, unknown
from .values import MAX_INT, Values, rounded

#: The SII's TpoMoneda names (the Aduana's currency table, as SiiTypes_v10.xsd enumerates it), in
#: ISO 4217. Currencies since replaced by the euro keep their historic codes.
CURRENCIES = {
    "BOLIVAR": "VES",
    "BOLIVIANO": "BOB",
    "CHELIN": "ATS",
    "CORONA DIN": "DKK",
    "CORONA NOR": "NOK",
    "CORONA SC": "SEK",
    "CRUZEIRO REAL": "BRL",
    "DIRHAM": "AED",
    "DOLAR AUST": "AUD",
    "DOLAR CAN": "CAD",
    "DOLAR HK": "HKD",
    "DOLAR NZ": "NZD",
    "DOLAR SIN": "SGD",
    "DOLAR TAI": "TWD",
    "DOLAR USA": "USD",
    "DRACMA": "GRD",
    "ESCUDO": "PTE",
    "EURO": "EUR",
    "FLORIN": "NLG",
    "FRANCO BEL": "BEF",
    "FRANCO FR": "FRF",
    "FRANCO SZ": "CHF",
    "GUARANI": "PYG",
    "LIBRA EST": "GBP",
    "LIRA": "ITL",
    "MARCO AL": "DEM",
    "MARCO FIN": "FIM",
    "NUEVO SOL": "PEN",
    "PESETA": "ESP",
    "PESO": "ARS",  # the Aduana's "PESO" is Argentina's
    "PESO CL": "CLP",
    "PESO COL": "COP",
    "PESO MEX": "MXN",
    "PESO URUG": "UYU",
    "RAND": "ZAR",
    "RENMINBI": "CNY",
    "RUPIA": "INR",
    "SUCRE": "ECS",
    "YEN": "JPY",
    # Names issuers write that the Aduana's newer table uses.
    "PESO ARG": "ARS",
    "REAL": "BRL",
    "REAL BRASIL": "BRL",
    "YUAN": "CNY",
}
#: ISO 4217's code for "no currency": what an unknown TpoMoneda (or "OTRAS MONEDAS") is recorded as.
UNKNOWN_CURRENCY = "XXX"
EXPORT_TYPES = frozenset({110, 111, 112})

_TOTALS = [
    "TpoMoneda",
    "MntNeto",
    "MntExe",
    "TasaIVA",
    "IVA",
    "IVANoRet",
    "CredEC",
    "GrntDep",
    "ImptoReten",
    "MntTotal",
    "MontoNF",
    "MontoPeriodo",
    "SaldoAnterior",
    "VlrPagar",
]
_OTHER = ["TpoMoneda", "TpoCambio", "MntNetoOtrMnda", "MntExeOtrMnda", "IVAOtrMnda", "MntTotOtrMnda"]
_TAX = ("TipoImp", "TasaImp", "MontoImp")
_DISCOUNT = ("NroLinDR", "TpoMov", "GlosaDR", "TpoValor", "ValorDR", "ValorDROtrMnda", "IndExeDR")
#: (ParsedDocument field, Totales element, OtraMoneda element)
_MAIN = (
    ("net", "MntNeto", "MntNetoOtrMnda"),
    ("exempt", "MntExe", "MntExeOtrMnda"),
    ("vat", "IVA", "IVAOtrMnda"),
    ("total", "MntTotal", "MntTotOtrMnda"),
)
_PESO_ONLY = (
    ("vat_not_withheld", "IVANoRet"),
    ("special_credit", "CredEC"),
    ("deposit_guarantee", "GrntDep"),
    ("non_billable", "MontoNF"),
    ("period_amount", "MontoPeriodo"),
    ("previous_balance", "SaldoAnterior"),
    ("amount_due", "VlrPagar"),
)


class Money(TypedDict):
    """The money fields of a ParsedDocument, as `read_money` finds them."""

    currency: str
    foreign: ForeignAmounts | None
    net: int | None
    exempt: int | None
    vat: int | None
    total: int | None
    vat_rate: Decimal | None
    vat_not_withheld: int | None
    taxes: tuple[ParsedTax, ...]
    other_taxes: int | None
    vat_withheld: int | None
    special_credit: int | None
    deposit_guarantee: int | None
    non_billable: int | None
    period_amount: int | None
    previous_balance: int | None
    amount_due: int | None


def currency_of(name: str, where: str, values: Values) -> str:
    """ISO 4217 for a TpoMoneda; an unknown name is noted and recorded as XXX."""
    code = CURRENCIES.get(" ".join(name.upper().replace("Ó", "O").split()))
    if code is None:
        values.note(where, name, "is not a currency of the SII's table; recorded as XXX")
    return code or UNKNOWN_CURRENCY


class _Pesos:
    """Turns amounts of the document's currency into pesos, saying which it converted or could not."""

    def __init__(self, rate: Decimal | None, foreign: bool) -> None:
        self.rate, self.foreign = rate, foreign
        self.converted: list[str] = []
        self.missing: list[str] = []

    def of(self, name: str, amount: Decimal | None) -> int | None:
        if amount is None:
            return None
        if not self.foreign:
            return int(rounded(amount))
        if self.rate is None:
            self.missing.append(name)
            return None
        self.converted.append(name)
        return int(rounded(amount * self.rate))


def read_money(totals: etree._Element | None, other: etree._Element | None, doc_type: int, values: Values) -> Money:
    note_unheld(totals, _TOTALS, "Totales", values)
    note_unheld(other, _OTHER, "OtraMoneda", values)
    name = text(totals, "TpoMoneda")
    currency = currency_of(name, "Totales/TpoMoneda", values) if name else "CLP"
    if not name and doc_type in EXPORT_TYPES:
        values.problems.append(f"{values.where}an export document without Totales/TpoMoneda; read as pesos")
    foreign_document = currency != "CLP"
    other_name = text(other, "TpoMoneda")
    other_currency = currency_of(other_name, "OtraMoneda/TpoMoneda", values) if other is not None else ""
    rate = values.decimal(text(other, "TpoCambio"), "OtraMoneda/TpoCambio")
    in_pesos = other_currency == "CLP"
    pesos = _Pesos(rate if in_pesos else None, foreign_document)

    def own(tag: str) -> Decimal | None:
        return values.decimal(text(totals, tag), tag)

    def whole(tag: str) -> int | None:
        return values.amount(text(totals, tag), tag)

    found: dict[str, int | None] = {}
    foreign: ForeignAmounts | None = None
    if foreign_document:
        stated = {field: own(tag) for field, tag, _ in _MAIN}
        foreign = ForeignAmounts(currency, name, rate if in_pesos else None, **stated)
        for field, tag, other_tag in _MAIN:
            given = values.decimal(text(other, other_tag), other_tag) if in_pesos else None
            found[field] = int(rounded(given)) if given is not None else pesos.of(tag, stated[field])
        if other is not None and not in_pesos:
            values.unheld(f"OtraMoneda in {other_name or '(no TpoMoneda)'} of a document in {name}")
    else:
        found = {field: whole(tag) for field, tag, _ in _MAIN}
        if other is not None and in_pesos:
            values.unheld("OtraMoneda in PESO CL of a peso document")
        elif other is not None:
            foreign = ForeignAmounts(
                other_currency,
                other_name,
                rate,
                net=values.decimal(text(other, "MntNetoOtrMnda"), "MntNetoOtrMnda"),
                exempt=values.decimal(text(other, "MntExeOtrMnda"), "MntExeOtrMnda"),
                vat=values.decimal(text(other, "IVAOtrMnda"), "IVAOtrMnda"),
                total=values.decimal(text(other, "MntTotOtrMnda"), "MntTotOtrMnda"),
            )
    taxes = tuple(
        tax
        for index, row in enumerate(children(totals, "ImptoReten"), start=1)
        if (tax := _tax(row, values.within(f"ImptoReten {index}: "))) is not None
    )
    extra = {field: pesos.of(tag, own(tag)) if foreign_document else whole(tag) for field, tag in _PESO_ONLY}
    money = Money(
        currency=currency,
        foreign=foreign,
        net=found["net"],
        exempt=found["exempt"],
        vat=found["vat"],
        total=found["total"],
        vat_rate=values.decimal(text(totals, "TasaIVA"), "TasaIVA", places=2),
        vat_not_withheld=extra["vat_not_withheld"],
        taxes=taxes,
        other_taxes=pesos.of("ImptoReten", _sum(t.amount for t in taxes if not t.withheld)),
        vat_withheld=pesos.of("ImptoReten", _sum(t.amount for t in taxes if t.withheld)),
        special_credit=extra["special_credit"],
        deposit_guarantee=extra["deposit_guarantee"],
        non_billable=extra["non_billable"],
        period_amount=extra["period_amount"],
        previous_balance=extra["previous_balance"],
        amount_due=extra["amount_due"],
    )
    if pesos.converted:
        values.problems.append(
            f"{values.where}Totales in {name}: {', '.join(dict.fromkeys(pesos.converted))} "
            f"in pesos at TpoCambio {rate}, as OtraMoneda gives no peso amount"
        )
    if pesos.missing:
        values.problems.append(
            f"{values.where}Totales in {name}: no peso amount and no exchange rate for "
            f"{', '.join(dict.fromkeys(pesos.missing))}; left blank"
        )
    return money


def _sum(amounts: Iterable[Decimal | None]) -> Decimal | None:
    found = [amount for amount in amounts if amount is not None]
    return sum(found, Decimal(0)) if found else None


def _tax(row: etree._Element, values: Values) -> ParsedTax | None:
    note_unheld(row, _TAX, "ImptoReten", values)
    code = values.whole(text(row, "TipoImp"), "TipoImp", low=1, high=999)
    if code is None:
        values.problems.append(f"{values.where}no valid TipoImp; not counted")
        return None
    known = tax_code(code)
    if known is None:
        values.note("TipoImp", str(code), "is not in the SII's table of taxes; counted as an additional tax")
        known = unknown(code)
    return ParsedTax(
        code=code,
        name=known.name,
        rate=values.decimal(text(row, "TasaImp"), "TasaImp", places=2),
        amount=values.decimal(text(row, "MontoImp"), "MontoImp"),
        withheld=known.withheld,
    )


def read_discounts(
    rows: Sequence[etree._Element], lines: Sequence[ParsedLine], currency: str, values: Values
) -> tuple[ParsedDiscount, ...]:
    found = []
    for index, row in enumerate(rows, start=1):
        inner = values.within(f"DscRcgGlobal {index}: ")
        note_unheld(row, _DISCOUNT, "DscRcgGlobal", inner)
        value = inner.decimal(text(row, "ValorDR"), "ValorDR")
        if value is None:
            inner.problems.append(f"{inner.where}no ValorDR; not counted")
            continue
        movement, kind = text(row, "TpoMov"), text(row, "TpoValor")
        if movement not in ("D", "R"):
            inner.note("TpoMov", movement, "is neither D nor R; read as D (a discount)")
        if kind not in ("%", "$"):
            inner.note("TpoValor", kind, "is neither % nor $; read as $ (an amount)")
        exemption = inner.whole(text(row, "IndExeDR"), "IndExeDR", low=1, high=2)
        percent = kind == "%"
        found.append(
            ParsedDiscount(
                line=inner.whole(text(row, "NroLinDR"), "NroLinDR", low=1, high=MAX_INT) or index,
                surcharge=movement == "R",
                description=text(row, "GlosaDR"),
                percent=percent,
                value=value,
                exemption_code=exemption,
                amount=_percent_of(value, lines, exemption, currency) if percent else value,
            )
        )
    return tuple(found)


def _percent_of(percent: Decimal, lines: Sequence[ParsedLine], exemption: int | None, currency: str) -> Decimal | None:
    """A % of the lines it applies to (afecto, exempt or not billable), rounded as the SII rounds."""
    amounts = [line.amount for line in lines if line.exemption_code == exemption]
    if not amounts or any(amount is None for amount in amounts):
        return None
    base = sum((amount for amount in amounts if amount is not None), Decimal(0))
    return rounded(base * percent / 100, 0 if currency == "CLP" else 2)
