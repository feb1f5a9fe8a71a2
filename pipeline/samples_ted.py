"""A genuine TED for generated DTE: a CAF of our own, its key made once per process, that stamps the DD.

The parser checks it as it checks an issuer's (pipeline/dte/ted.py), so a generated DTE's TED is valid;
`ted="forged"` stamps a total other than the document's (the document edited after stamping) and
`ted="none"` leaves the TED out.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import date
from functools import cache
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from pipeline.dte.ted import flattened

#: "genuine" stamps what the document says; "forged" a total 1,000 more; "none" leaves the TED out.
TedKind = Literal["genuine", "forged", "none"]
#: Folios one CAF authorises: the range around the folio, 1-1000, 1001-2000...
CAF_SIZE = 1000
FORGED_EXTRA = 1000


@cache
def caf_key() -> rsa.RSAPrivateKey:
    """The key of every CAF we generate (real CAF keys are 512 bits; cryptography makes 1024 at least)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _b64_number(number: int) -> str:
    return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big")).decode()


def _element(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    found = ET.SubElement(parent, tag, attrs)
    if text is not None:
        found.text = str(text)
    return found


def caf(parent: ET.Element, *, issuer_rut: str, issuer_name: str, doc_type: int, folio: int) -> ET.Element:
    """A CAF for the range of `CAF_SIZE` folios that holds `folio`, with `caf_key()`'s public half."""
    first = (folio - 1) // CAF_SIZE * CAF_SIZE + 1
    element = _element(parent, "CAF", version="1.0")
    da = _element(element, "DA")
    for tag, value in (("RE", issuer_rut), ("RS", issuer_name[:40]), ("TD", doc_type)):
        _element(da, tag, value)
    rng = _element(da, "RNG")
    _element(rng, "D", first)
    _element(rng, "H", first + CAF_SIZE - 1)
    _element(da, "FA", "2023-01-02")
    public = caf_key().public_key().public_numbers()
    rsapk = _element(da, "RSAPK")
    _element(rsapk, "M", _b64_number(public.n))
    _element(rsapk, "E", _b64_number(public.e))
    _element(da, "IDK", 100)
    # The SII's own signature of the CAF, which no one outside the SII can make (nor we check).
    frma = hashlib.sha512(ET.tostring(da)).digest()
    _element(element, "FRMA", base64.b64encode(frma).decode(), algoritmo="SHA1withRSA")
    return element


def add_ted(
    parent: ET.Element,
    *,
    issuer_rut: str,
    issuer_name: str,
    doc_type: int,
    folio: int,
    issue_date: date,
    receiver_rut: str,
    receiver_name: str,
    total: int | str,
    first_item: str,
    stamped_at: str,
    kind: TedKind = "genuine",
) -> ET.Element | None:
    """Append a `<TED>` to `parent` (a Documento) whose FRMT the CAF's key made over its DD."""
    if kind == "none":
        return None
    stamped_total = int(total) + FORGED_EXTRA if kind == "forged" else total
    ted = _element(parent, "TED", version="1.0")
    dd = _element(ted, "DD")
    for tag, value in (
        ("RE", issuer_rut),
        ("TD", doc_type),
        ("F", folio),
        ("FE", issue_date.isoformat()),
        ("RR", receiver_rut),
        ("RSR", receiver_name[:40]),
        ("MNT", stamped_total),
        ("IT1", first_item[:40]),
    ):
        _element(dd, tag, value)
    caf(dd, issuer_rut=issuer_rut, issuer_name=issuer_name, doc_type=doc_type, folio=folio)
    _element(dd, "TSTED", stamped_at)
    # Stamped as the parser flattens it: the same bytes a reader of the PDF417 gets.
    signed = flattened(etree.fromstring(ET.tostring(dd)))
    frmt = caf_key().sign(signed, padding.PKCS1v15(), hashes.SHA1())
    _element(ted, "FRMT", base64.b64encode(frmt).decode(), algoritmo="SHA1withRSA")
    return ted
