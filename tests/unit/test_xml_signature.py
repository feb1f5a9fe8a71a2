"""The DTE's own XML signature: valid, invalid (with why), missing or unchecked, on the real DTE and edited copies.

Measured on the two real DTE: signxml as it comes (SHA-1 allowed, the certificate they carry, their
signing time) rejects both, as libxml2 2.14 canonicalises SignedInfo in place with a spurious xmlns="";
our check canonicalises a detached copy and finds both valid.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from pipeline import samples
from pipeline.dte import parse_file
from pipeline.dte.model import CheckState, ParsedDocument
from pipeline.dte.signature import signature_check
from pipeline.dte.xmlsafe import parse_xml
from tests.support.real_samples import DTE_REAL_DIR

REAL_DIR = DTE_REAL_DIR
INVOICE = REAL_DIR / "DTE--60910000-1--33--2336600.xml"
CREDIT_NOTE = REAL_DIR / "DTE--96670340-7--61--110616.xml"
REAL = [INVOICE, CREDIT_NOTE]
needs_real = pytest.mark.skipif(not INVOICE.is_file(), reason="the real DTE samples are not on this machine")
DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _document(data: bytes) -> ParsedDocument:
    (document,) = parse_file(data, content_type="application/xml").documents
    return document


def _certificate_text(path: Path) -> bytes:
    found = re.search(rb"<X509Certificate>(.*?)</X509Certificate>", path.read_bytes(), re.DOTALL)
    assert found is not None
    return found.group(1)


@needs_real
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_signxml_as_it_comes_rejects_the_real_dte(path):
    """What a naive check says: the reason the check canonicalises detached copies."""
    root = parse_xml(path.read_bytes())
    certificate = x509.load_der_x509_certificate(base64.b64decode(b"".join(_certificate_text(path).split())))
    signed_at = datetime.fromisoformat(root.findtext("Documento/TmstFirma") or "").replace(tzinfo=UTC)
    config = SignatureConfiguration(
        location="./",
        signature_methods=frozenset(SignatureMethod),
        digest_algorithms=frozenset(DigestAlgorithm),
        verification_time=signed_at,
    )
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(root, x509_cert=certificate, expect_config=config, validate_schema=False)


@needs_real
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_dte_signature_is_valid(path):
    check = _document(path.read_bytes()).signature_check
    assert (check.state, check.reason) == (CheckState.VALID, "")


@needs_real
def test_amount_changed_after_signing_is_invalid():
    data = INVOICE.read_bytes().replace(b"<MntTotal>10642</MntTotal>", b"<MntTotal>10643</MntTotal>")
    check = _document(data).signature_check
    assert check.state is CheckState.INVALID
    assert check.reason.startswith("the Documento is not what was signed")


@needs_real
def test_signature_removed_is_missing():
    data = re.sub(rb"<Signature .*?</Signature>", b"", INVOICE.read_bytes(), flags=re.DOTALL)
    document = _document(data)
    assert document.signature_check.state is CheckState.MISSING
    assert document.ted_check.state is CheckState.VALID  # the signature is a signal: the document stays


@needs_real
def test_certificate_replaced_in_key_info_is_invalid():
    data = INVOICE.read_bytes().replace(_certificate_text(INVOICE), _certificate_text(CREDIT_NOTE))
    check = _document(data).signature_check
    assert (check.state, check.reason) == (
        CheckState.INVALID,
        "SignatureValue does not verify with the certificate's key",
    )


@needs_real
def test_signed_info_edited_is_invalid():
    data = INVOICE.read_bytes().replace(b"FYAfBvdM9IXwWnv9VIG/rVEBSGQ=", b"AYAfBvdM9IXwWnv9VIG/rVEBSGQ=")
    assert _document(data).signature_check.state is CheckState.INVALID


@needs_real
def test_signed_after_the_certificate_expired_is_invalid():
    data = INVOICE.read_bytes().replace(b"<TmstFirma>2019-08-09T09:41:09", b"<TmstFirma>2020-08-09T09:41:09")
    check = _document(data).signature_check
    assert (check.state, check.reason) == (
        CheckState.INVALID,
        "the signing certificate was not valid when the DTE was signed (TmstFirma)",
    )


@needs_real
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_signed_alone_then_put_in_an_envelope_with_xsi_verifies_on_its_own(path):
    """An EnvioDTE's root declares xmlns:xsi, in scope of the DTE but not there when the issuer signed it."""
    dte = path.read_bytes().decode("latin-1").split("?>", 1)[1]
    envelope = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<EnvioDTE version="1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<SetDTE ID="SetDoc"><Caratula version="1.0"><RutEmisor>60910000-1</RutEmisor></Caratula>{dte}</SetDTE>'
        "</EnvioDTE>"
    ).encode("latin-1")
    check = _document(envelope).signature_check
    assert check.state is CheckState.VALID
    assert check.reason == "verifies with SignedInfo and Documento canonicalised on their own, as SII signers do"


@needs_real
def test_re_encoded_copies_still_verify():
    text = INVOICE.read_bytes().decode("cp1252")
    relabelled = text.replace('encoding="windows-1252"', 'encoding="UTF-8"').encode("utf-8")
    mislabelled = text.encode("utf-8")  # UTF-8 bytes under the old windows-1252 declaration
    assert _document(relabelled).signature_check.state is CheckState.VALID
    assert _document(mislabelled).signature_check.state is CheckState.VALID


@needs_real
def test_re_indented_copy_is_invalid_not_an_error():
    root = parse_xml(INVOICE.read_bytes())
    etree.indent(root)
    assert signature_check(root).state is CheckState.INVALID


@needs_real
@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"', b'Algorithm="urn:unknown"'),
        (b"<SignatureValue>", b"<SignatureValue>!!not base64!!"),
        (b"<X509Certificate>", b"<X509Certificate>QUJD"),
    ],
    ids=["unknown method", "garbage value", "broken certificate"],
)
def test_forms_we_cannot_check_never_raise(old, new):
    check = _document(INVOICE.read_bytes().replace(old, new, 1)).signature_check
    assert check.state in (CheckState.UNCHECKED, CheckState.INVALID)
    assert check.reason


def test_generated_stub_signature_is_unchecked():
    check = _document(samples.dte_xml()).signature_check
    assert (check.state, check.reason) == (
        CheckState.UNCHECKED,
        "the signature carries no certificate or key to check it with",
    )


@needs_real
def test_the_check_is_quick():
    root = parse_xml(INVOICE.read_bytes())
    signature_check(root)
    started = time.perf_counter()
    for _ in range(20):
        assert signature_check(root).state is CheckState.VALID
    assert (time.perf_counter() - started) / 20 < 0.05
