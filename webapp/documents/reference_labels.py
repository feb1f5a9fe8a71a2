"""What a `Referencia` says, in words: the kind of document it cites (TpoDocRef) and why (CodRef).

TpoDocRef is a DTE type (DOC_TYPES), a paper document's type, or one of the SII's codes for
documents that are not tax documents (801 orden de compra, HES...), per the SII's DTE format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.kinds import DOC_TYPES

if TYPE_CHECKING:
    from .models import Document

#: Paper tax documents a DTE may still cite.
PAPER_TYPES: dict[str, Promise] = {
    "30": _("Invoice (paper)"),
    "32": _("Exempt invoice (paper)"),
    "35": _("Receipt (paper)"),
    "38": _("Exempt receipt (paper)"),
    "40": _("Invoice settlement (paper)"),
    "45": _("Purchase invoice (paper)"),
    "50": _("Dispatch guide (paper)"),
    "55": _("Debit note (paper)"),
    "60": _("Credit note (paper)"),
    "103": _("Settlement"),
    "914": _("Import declaration (DIN)"),
}

#: The SII's codes for the other documents a DTE cites.
OTHER_TYPES: dict[str, Promise] = {
    "801": _("Purchase order"),
    "802": _("Order note"),
    "803": _("Contract"),
    "804": _("Resolution"),
    "805": _("ChileCompra tender"),
    "806": _("ChileCompra record"),
    "807": _("Export declaration (DUS)"),
    "808": _("Bill of lading (B/L)"),
    "809": _("Air waybill (AWB)"),
    "810": _("International cargo manifest (MIC/DTA)"),
    "811": _("Waybill (carta de porte)"),
    "812": _("Customs resolution on export services"),
    "813": _("Passport"),
    "814": _("Deposit certificate (Bolsa de Productos)"),
    "815": _("Pledge voucher (Bolsa de Productos)"),
    "HES": _("Service entry sheet (HES)"),
    "HEM": _("Goods entry sheet (HEM)"),
    "SET": _("SII certification test set"),
}

#: CodRef: what a note does to the document it cites.
REASONS: dict[int, Promise] = {
    1: _("voids the document"),
    2: _("corrects text"),
    3: _("corrects amounts"),
}


def reference_type_name(code: str) -> str:
    """The name of a TpoDocRef code; empty when the code is none the SII defines."""
    code = code.strip().upper()
    if code.isascii() and code.isdigit() and int(code) in DOC_TYPES:
        return DOC_TYPES[int(code)]
    label = PAPER_TYPES.get(code.lstrip("0")) or OTHER_TYPES.get(code)
    return str(label) if label is not None else ""


def reference_type_label(code: str) -> str:
    """`801 Orden de compra`: the code and its name, or the code alone when it has none."""
    name = reference_type_name(code)
    return f"{code} {name}" if name else code or gettext("(no type)")


def reason_label(code: int | None) -> str:
    """`1: anula el documento`; the bare code when it is not 1, 2 or 3; empty without one."""
    if code is None:
        return ""
    reason = REASONS.get(code)
    return f"{code}: {reason}" if reason is not None else str(code)


def document_label(document: Document) -> str:
    """`Factura electrónica N° 170`: a document as a person names it."""
    name = document.type_name or DOC_TYPES.get(document.doc_type, str(document.doc_type))
    return gettext("%(type)s No. %(folio)s") % {"type": name, "folio": document.folio}
