"""Hostile TEDs and signatures: a stamped amount smuggled into OtraMoneda, huge values quoted back,
a signed Documento hidden beside an edited one, references that point outside the file.

On the real DTE (public test data of cl-sii), edited as a sender who holds no key can edit them.
"""

from __future__ import annotations

import re

import pytest

from pipeline.dte import parse_file
from pipeline.dte.model import CheckState, ParsedDocument
from tests.support.real_samples import DTE_REAL_DIR

INVOICE = DTE_REAL_DIR / "DTE--60910000-1--33--2336600.xml"  # total 10642
needs_real = pytest.mark.skipif(not INVOICE.is_file(), reason="the real DTE samples are not on this machine")
OTHER_CURRENCY = (
    b"</Totales><OtraMoneda><TpoMoneda>DOLAR USA</TpoMoneda><TpoCambio>1</TpoCambio>"
    b"<MntTotOtrMnda>10642</MntTotOtrMnda></OtraMoneda>"
)


def _only(data: bytes) -> ParsedDocument:
    (document,) = parse_file(data, content_type="application/xml").documents
    return document


@needs_real
def test_raised_total_with_the_stamped_amount_as_otra_moneda_is_not_a_valid_ted():
    data = INVOICE.read_bytes().replace(b"<MntTotal>10642</MntTotal>", b"<MntTotal>99999</MntTotal>")
    data = data.replace(b"</Totales>", OTHER_CURRENCY, 1)
    document = _only(data)
    assert document.total == 99999 and document.foreign is not None and document.foreign.total == 10642
    assert (document.ted_check.state, document.ted_check.reason) == (
        CheckState.INVALID,
        "DD MNT 10642 but the document says 99999",
    )


@needs_real
def test_an_otra_moneda_block_beside_the_genuine_peso_total_leaves_the_ted_valid():
    document = _only(INVOICE.read_bytes().replace(b"</Totales>", OTHER_CURRENCY.replace(b"10642", b"15"), 1))
    assert document.ted_check.state is CheckState.VALID


@needs_real
@pytest.mark.parametrize("tag", [b"TD", b"F", b"FE", b"MNT"])
def test_a_megabyte_in_a_dd_field_is_quoted_in_40_characters(tag):
    data = re.sub(
        b"<" + tag + b">[^<]*</" + tag + b">",
        b"<" + tag + b">" + b"A" * 1_000_000 + b"</" + tag + b">",
        INVOICE.read_bytes(),
        count=1,
    )
    check = _only(data).ted_check
    assert check.state is CheckState.INVALID
    assert f"DD {tag.decode()} {'A' * 40}… but" in check.reason and len(check.reason) < 200


@needs_real
def test_a_signed_documento_beside_an_edited_one_does_not_make_the_signature_valid():
    data = INVOICE.read_bytes()
    start, end = data.index(b"<Documento"), data.index(b"</Documento>") + len(b"</Documento>")
    genuine = data[start:end]
    edited = genuine.replace(b"<MntTotal>10642</MntTotal>", b"<MntTotal>99999</MntTotal>")
    # The parser reads the first Documento; the genuine one, same ID, is kept after the Signature.
    wrapped = data[:start] + edited + data[end:].replace(b"</DTE>", genuine + b"</DTE>", 1)
    document = _only(wrapped)
    assert document.total == 99999
    assert document.signature_check.state is CheckState.INVALID
    assert document.ted_check.state is CheckState.INVALID


@needs_real
@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/dte.xml", "file:///etc/passwd", "", "#xpointer(/)"])
def test_a_reference_outside_the_documento_is_invalid_and_never_fetched(uri):
    data = re.sub(rb'<Reference URI="[^"]*"', f'<Reference URI="{uri}"'.encode(), INVOICE.read_bytes(), count=1)
    check = _only(data).signature_check
    assert (check.state, check.reason) == (
        CheckState.INVALID,
        "the signature does not cover the DTE's Documento (Reference URI)",
    )
