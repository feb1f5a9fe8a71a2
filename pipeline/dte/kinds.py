"""What each SII document type is for an accountant: its family, its sign in totals, who issues it.

The one place that says a credit note subtracts, a guide is not summed beside its invoice and a
factura de compra (46) is issued by the buyer; lists, totals, exports and reconciliation ask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    INVOICE = "invoice"  # facturas, liquidaciones-factura, facturas de exportación
    DEBIT_NOTE = "debit_note"
    CREDIT_NOTE = "credit_note"
    GUIDE = "guide"  # guía de despacho: moves goods; its invoice carries the amounts
    RECEIPT = "receipt"  # boletas
    OTHER = "other"  # a type this table does not know


@dataclass(frozen=True, slots=True)
class DocumentKind:
    code: int
    family: Family
    #: +1 adds to totals, -1 subtracts (credit notes), 0 is not summed by default (guides).
    sign: int
    export: bool = False
    #: A factura de compra (46) is issued by the buyer (the receiver of the mail's documents): the
    #: "issuer" on it is us, the receiver our supplier, and the VAT is usually withheld.
    issued_by_buyer: bool = False
    #: Ley 19.983: the receiver accepts it or claims against it within CLAIM_DAYS of the SII's
    #: reception, or it counts as accepted (facturas 33, 34 and the liquidación-factura 43).
    claimable: bool = False


#: SII document type codes and their names.
DOC_TYPES = {
    33: "Factura electrónica",
    34: "Factura no afecta o exenta electrónica",
    39: "Boleta electrónica",
    41: "Boleta exenta electrónica",
    43: "Liquidación factura electrónica",
    46: "Factura de compra electrónica",
    52: "Guía de despacho electrónica",
    56: "Nota de débito electrónica",
    61: "Nota de crédito electrónica",
    110: "Factura de exportación electrónica",
    111: "Nota de débito de exportación electrónica",
    112: "Nota de crédito de exportación electrónica",
}

#: Calendar days after the SII received a claimable document that its receiver may claim (Ley 19.983, art. 3).
CLAIM_DAYS = 8


KINDS: dict[int, DocumentKind] = {
    kind.code: kind
    for kind in (
        DocumentKind(33, Family.INVOICE, +1, claimable=True),
        DocumentKind(34, Family.INVOICE, +1, claimable=True),
        DocumentKind(39, Family.RECEIPT, +1),
        DocumentKind(41, Family.RECEIPT, +1),
        DocumentKind(43, Family.INVOICE, +1, claimable=True),
        DocumentKind(46, Family.INVOICE, +1, issued_by_buyer=True),
        DocumentKind(52, Family.GUIDE, 0),
        DocumentKind(56, Family.DEBIT_NOTE, +1),
        DocumentKind(61, Family.CREDIT_NOTE, -1),
        DocumentKind(110, Family.INVOICE, +1, export=True),
        DocumentKind(111, Family.DEBIT_NOTE, +1, export=True),
        DocumentKind(112, Family.CREDIT_NOTE, -1, export=True),
    )
}


def kind_of(doc_type: int) -> DocumentKind:
    """The kind of `doc_type`; an unknown type adds, as an invoice would, and says it is OTHER."""
    return KINDS.get(doc_type) or DocumentKind(doc_type, Family.OTHER, +1)


def codes(*, sign: int | None = None, family: Family | None = None, claimable: bool | None = None) -> list[int]:
    """The known type codes of a sign, family or claimability: codes(sign=-1) == [61, 112]."""
    return [
        code
        for code, kind in KINDS.items()
        if (sign is None or kind.sign == sign)
        and (family is None or kind.family == family)
        and (claimable is None or kind.claimable == claimable)
    ]
