"""The TED check: FRMT by the CAF's key over the DD, the CAF's range, the DD against the header.

On the two real DTE (public test data of cl-sii) and on copies edited after stamping.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest

from pipeline import samples, samples_ted
from pipeline.dte import parse_file
from pipeline.dte.model import CheckState, ParsedDocument
from tests.support import sii_cases
from tests.support.real_samples import DTE_REAL_DIR

REAL_DIR = DTE_REAL_DIR
INVOICE = REAL_DIR / "DTE--60910000-1--33--2336600.xml"  # total 10642, CAF 2332141-2342140
CREDIT_NOTE = REAL_DIR / "DTE--96670340-7--61--110616.xml"
needs_real = pytest.mark.skipif(not INVOICE.is_file(), reason="the real DTE samples are not on this machine")


def _document(data: bytes) -> ParsedDocument:
    parsed = parse_file(data, content_type="application/xml")
    assert parsed.problems == [] or all("TED" not in p for p in parsed.problems)
    (document,) = parsed.documents
    return document


def _edited(path: Path, *replacements: tuple[bytes, bytes]) -> bytes:
    data = path.read_bytes()
    for old, new in replacements:
        assert old in data, old
        data = data.replace(old, new)
    return data


@needs_real
@pytest.mark.parametrize("path", [INVOICE, CREDIT_NOTE], ids=lambda p: p.name)
def test_parse_file_of_each_real_dte_finds_its_ted_valid(path):
    document = _document(path.read_bytes())
    assert (document.ted_check.state, document.ted_check.reason) == (CheckState.VALID, "")


@needs_real
def test_real_ted_still_verifies_once_the_file_is_re_encoded_in_utf8():
    text = INVOICE.read_bytes().decode("cp1252").replace('encoding="windows-1252"', 'encoding="UTF-8"')
    assert _document(text.encode("utf-8")).ted_check.state is CheckState.VALID


@needs_real
def test_amount_changed_after_stamping_is_named_by_the_field():
    check = _document(_edited(INVOICE, (b"<MntTotal>10642</MntTotal>", b"<MntTotal>10643</MntTotal>"))).ted_check
    assert (check.state, check.reason) == (CheckState.INVALID, "DD MNT 10642 but the document says 10643")


@needs_real
def test_dd_edited_to_match_the_edited_amount_fails_frmt():
    data = _edited(
        INVOICE,
        (b"<MntTotal>10642</MntTotal>", b"<MntTotal>20642</MntTotal>"),
        (b"<MNT>10642</MNT>", b"<MNT>20642</MNT>"),
    )
    check = _document(data).ted_check
    assert check.state is CheckState.INVALID
    assert check.reason.startswith("FRMT does not verify with the CAF's key")


@needs_real
@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"<RUTRecep>76555835-2</RUTRecep>", b"<RUTRecep>77500100-4</RUTRecep>", "DD RR 76555835-2 but"),
        (b"<FchEmis>2019-08-08</FchEmis>", b"<FchEmis>2019-08-09</FchEmis>", "DD FE 2019-08-08 but"),
        (b"<Folio>2336600</Folio>", b"<Folio>2336601</Folio>", "DD F 2336600 but"),
    ],
    ids=["receiver", "issue date", "folio"],
)
def test_each_header_field_the_dd_disagrees_with_is_named(old, new, reason):
    check = _document(_edited(INVOICE, (old, new))).ted_check
    assert check.state is CheckState.INVALID
    assert check.reason.startswith(reason)


@needs_real
def test_ted_removed_is_missing():
    data = re.sub(rb"<TED .*?</TED>", b"", INVOICE.read_bytes(), flags=re.DOTALL)
    document = _document(data)
    assert (document.ted_check.state, document.ted) == (CheckState.MISSING, b"")


@needs_real
def test_folio_outside_the_caf_range_is_invalid():
    check = _document(_edited(INVOICE, (b"<H>2342140</H>", b"<H>2336599</H>"))).ted_check
    assert (check.state, check.reason) == (CheckState.INVALID, "folio 2336600 outside the CAF's range 2332141-2336599")


@needs_real
def test_caf_key_replaced_by_another_key_is_invalid():
    modulus = samples_ted.caf_key().public_key().public_numbers().n
    ours = base64.b64encode(modulus.to_bytes(128, "big"))
    data = re.sub(rb"<M>[^<]*</M>", b"<M>" + ours + b"</M>", INVOICE.read_bytes())
    check = _document(data).ted_check
    assert check.state is CheckState.INVALID
    assert "FRMT does not verify" in check.reason


@needs_real
def test_a_hostile_caf_key_is_refused_before_any_arithmetic():
    huge = base64.b64encode(b"\xff" * 8192)  # 65,536 bits
    check = _document(re.sub(rb"<M>[^<]*</M>", b"<M>" + huge + b"</M>", INVOICE.read_bytes())).ted_check
    assert (check.state, check.reason) == (CheckState.INVALID, "the CAF's key is larger than any CAF key")


@needs_real
def test_the_check_takes_about_a_millisecond():
    data = INVOICE.read_bytes()
    _document(data)
    started = time.perf_counter()
    for _ in range(20):
        assert _document(data).ted_check.state is CheckState.VALID
    assert (time.perf_counter() - started) / 20 < 0.05  # the whole parse, both checks included


@pytest.mark.parametrize(
    "xml",
    [
        samples.dte_xml(),
        samples.dte_xml(envelope=False, namespace=False, encoding="UTF-8"),
        samples.dte_xml(folio=1000, doc_type=34),
        sii_cases.export_invoice(),
        sii_cases.purchase_invoice(),
    ],
    ids=["envelope", "bare utf-8", "folio at the range's end", "export in dollars", "VAT withheld"],
)
def test_generated_dte_carry_a_genuine_ted(xml):
    assert _document(xml).ted_check.state is CheckState.VALID


def test_generated_forged_ted_names_the_total_and_missing_one_is_missing():
    forged = _document(samples.dte_xml(ted="forged"))
    total = forged.total
    assert forged.ted_check.reason == f"DD MNT {total + samples_ted.FORGED_EXTRA} but the document says {total}"
    assert _document(sii_cases.envelope(sii_cases.dte(ted="none"))).ted_check.state is CheckState.MISSING


def test_every_document_of_the_demo_mailbox_has_a_valid_ted(tmp_path):
    from email import message_from_bytes

    for path in samples.write_demo_mailbox(tmp_path, count=5):
        message = message_from_bytes(path.read_bytes())
        xml = next(p.get_payload(decode=True) for p in message.walk() if p.get_filename("").endswith(".xml"))
        assert _document(xml).ted_check.state is CheckState.VALID, path.name
