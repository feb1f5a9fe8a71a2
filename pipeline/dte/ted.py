"""The TED (timbre electrónico) of a DTE: FRMT by the CAF's key over the DD, the CAF's range, the DD
against the document's header.

The SII signs the CAF (FRMA) with its own keys, which we do not hold: the CAF is taken as it comes,
and the check is that the issuer who holds its private key stamped exactly this document.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from .model import Check, CheckState, ParsedDocument
from .rut import parse_rut
from .sii_xml import child, path, text
from .xmlsafe import local_name

#: CAF keys are 512 or 1024 bits; a larger modulus (or exponent) in a hostile file would only cost time.
MAX_MODULUS_BITS = 4096
MAX_EXPONENT_BITS = 64
#: Characters of a sender's value quoted in a problem: a megabyte of TD must not become a megabyte of reason.
QUOTED = 40


def flattened(element: etree._Element) -> bytes:
    """`element` as the SII signs and the PDF417 carries it: ISO-8859-1, no namespace, no whitespace between tags."""
    element = copy.deepcopy(element)
    for node in element.iter():
        if isinstance(node.tag, str):
            node.tag = local_name(node)
            if len(node) and node.text is not None and not node.text.strip():
                node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    etree.cleanup_namespaces(element)
    data = etree.tostring(element, encoding="ISO-8859-1", xml_declaration=False)
    assert isinstance(data, bytes)  # only encoding="unicode" gives str
    return data


def ted_check(ted: etree._Element | None, document: ParsedDocument) -> Check:
    """VALID when FRMT verifies with the CAF's key, the CAF covers the folio and the DD says what the header says."""
    if ted is None:
        return Check(CheckState.MISSING, "the DTE carries no TED")
    dd = child(ted, "DD")
    if dd is None:
        return Check(CheckState.INVALID, "the TED holds no DD")
    problem = next(_disagreements(dd, document), "") or _signature_problem(ted, dd)
    return Check(CheckState.INVALID, problem) if problem else Check(CheckState.VALID)


def _disagreements(dd: etree._Element, document: ParsedDocument) -> Iterator[str]:
    """What the DD and its CAF say that the document (or each other) does not, most telling first."""
    stated = {
        "RE": _rut(text(dd, "RE")),
        "TD": text(dd, "TD"),
        "F": text(dd, "F"),
        "FE": text(dd, "FE"),
        "RR": _rut(text(dd, "RR")),
        "MNT": text(dd, "MNT"),
    }
    header = {
        "RE": document.issuer_rut,
        "TD": str(document.doc_type),
        "F": str(document.folio),
        "FE": document.issue_date.isoformat() if document.issue_date else "",
        "RR": document.receiver_rut,
    }
    for name, expected in header.items():
        if stated[name] != expected:
            yield f"DD {name} {_quoted(stated[name])} but the document says {expected or '(nothing)'}"
    totals = _totals(document)
    if stated["MNT"] not in totals:
        yield f"DD MNT {_quoted(stated['MNT'])} but the document says {totals[0] if totals else '(no total)'}"
    da = path(dd, "CAF", "DA")
    if da is None:
        yield "the DD holds no CAF/DA"
        return
    if _rut(text(da, "RE")) != stated["RE"]:
        yield f"CAF RE {_quoted(text(da, 'RE'))} but the DD says {stated['RE']}"
    if text(da, "TD") != stated["TD"]:
        yield f"CAF TD {_quoted(text(da, 'TD'))} but the DD says {stated['TD']}"
    low, high = _whole(text(da, "RNG", "D")), _whole(text(da, "RNG", "H"))
    if low is None or high is None or not low <= document.folio <= high:
        yield f"folio {document.folio} outside the CAF's range {low}-{high}"


def _totals(document: ParsedDocument) -> list[str]:
    """The MNT a genuine DD states: the total in the document's own currency (an export's rounded).

    Only that one: an OtraMoneda block is outside the DD, so a peso invoice whose MntTotal was raised after
    stamping and which states the stamped amount as MntTotOtrMnda must not pass on its foreign total.
    """
    if document.currency == "CLP":
        return [str(document.total)] if document.total is not None else []
    if document.foreign is None or document.foreign.total is None:
        return []
    return [str(int(document.foreign.total.quantize(Decimal(1), rounding=ROUND_HALF_UP)))]


def _signature_problem(ted: etree._Element, dd: etree._Element) -> str:
    key, problem = _caf_key(path(dd, "CAF", "DA", "RSAPK"))
    if key is None:
        return problem
    frmt = _base64(text(ted, "FRMT"))
    if not frmt:
        return "the TED holds no FRMT"
    try:
        key.verify(frmt, flattened(dd), padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature:
        return "FRMT does not verify with the CAF's key (the DD was changed after stamping, or another key stamped it)"
    return ""


def _caf_key(rsapk: etree._Element | None) -> tuple[rsa.RSAPublicKey | None, str]:
    modulus, exponent = _number(text(rsapk, "M")), _number(text(rsapk, "E"))
    if not modulus or not exponent:
        return None, "the CAF holds no readable RSAPK (M, E)"
    if modulus.bit_length() > MAX_MODULUS_BITS or exponent.bit_length() > MAX_EXPONENT_BITS:
        return None, "the CAF's key is larger than any CAF key"
    try:
        return rsa.RSAPublicNumbers(e=exponent, n=modulus).public_key(), ""
    except ValueError:
        return None, "the CAF's RSAPK is not an RSA key"


def _quoted(value: str) -> str:
    if not value:
        return "(empty)"
    return value if len(value) <= QUOTED else f"{value[:QUOTED]}…"


def _rut(value: str) -> str:
    return parse_rut(value).normalized if value else ""


def _whole(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _base64(value: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _number(value: str) -> int:
    return int.from_bytes(_base64(value), "big")
