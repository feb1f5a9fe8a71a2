"""The XML signature of a DTE (its `<Signature>` over its `Documento`): a signal, never a verdict.

The key is the certificate in the signature's own KeyInfo (we hold no Chilean CA to chain it to),
valid when TmstFirma says the DTE was signed. SHA-1 is allowed: it is what the SII uses.

Canonical forms tried, the standard's first (`_FORMS`):
- in context: SignedInfo and Documento canonicalised with every namespace in scope where they sit;
- on its own: each canonicalised as a document of its own, unused namespaces dropped, which is what
  SII signers do, so a DTE signed alone and then put in an EnvioDTE (xmlns:xsi on its root) verifies.
Each form canonicalises a copy serialised and read again: libxml2 2.14 (lxml 6) puts a spurious xmlns=""
on the grandchildren of a subtree (even a deepcopy) it canonicalises under a default namespace, which is why
signxml as it comes rejects every real DTE we have (tests/unit/test_xml_signature.py).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

from cryptography import x509
from lxml import etree

from .model import Check, CheckState
from .sii_xml import text
from .xmlsafe import local_name

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
#: The offset of TmstFirma, which names none: Chile's standard time (a certificate's edges are hours apart at most).
CHILE = timezone(timedelta(hours=-4))
_DS = {"ds": DSIG_NS}

#: (name, SignedInfo on its own, Documento on its own), the standard's form first.
_FORMS = (
    ("in context", False, False),
    ("SignedInfo canonicalised on its own", True, False),
    ("SignedInfo and Documento canonicalised on their own", True, True),
    ("Documento canonicalised on its own", False, True),
)


@cache
def _verifier_class() -> Any:
    """signxml's verifier, canonicalising a detached copy of each node, in context or on its own.

    Made on first use: signxml loads only in the process that parses DTE (the sandbox's child).
    """
    from signxml.algorithms import CanonicalizationMethod
    from signxml.verifier import XMLVerifier

    class Verifier(XMLVerifier):
        def __init__(self, signed_info_alone: bool, payload_alone: bool) -> None:
            super().__init__()
            self.signed_info_alone, self.payload_alone = signed_info_alone, payload_alone
            self.default_reference_c14n_method = CanonicalizationMethod.CANONICAL_XML_1_0

        def _c14n(self, nodes: Any, algorithm: CanonicalizationMethod, inclusive_ns_prefixes: Any = None) -> bytes:
            result = b""
            for node in nodes if isinstance(nodes, list) else [nodes]:
                # Serialising a subtree declares on it every namespace in scope; on its own, the unused are dropped.
                detached = etree.fromstring(etree.tostring(node))
                if self.signed_info_alone if local_name(node) == "SignedInfo" else self.payload_alone:
                    etree.cleanup_namespaces(detached)
                    detached = etree.fromstring(etree.tostring(detached))
                result += etree.tostring(
                    detached,
                    method="c14n",
                    exclusive=algorithm.value.startswith("http://www.w3.org/2001/10/xml-exc-c14n#"),
                    with_comments=algorithm.value.endswith("#WithComments"),
                    inclusive_ns_prefixes=inclusive_ns_prefixes,
                )
            return result

    return Verifier


def signature_check(dte: etree._Element) -> Check:
    """The DTE's own signature, checked where it sits in its file (its namespace context). Never raises."""
    signature = next((c for c in dte if c.tag == f"{{{DSIG_NS}}}Signature"), None)
    if signature is None:
        return Check(CheckState.MISSING, "the DTE carries no XML signature")
    try:
        return _check(dte, signature)
    except MemoryError:
        raise
    except Exception as exc:  # a form signxml does not read: a signal lost, never the document
        return Check(CheckState.UNCHECKED, f"the signature could not be read ({type(exc).__name__})")


def _check(dte: etree._Element, signature: etree._Element) -> Check:
    from signxml.algorithms import DigestAlgorithm, SignatureMethod
    from signxml.exceptions import InvalidCertificate, InvalidInput, InvalidSignature
    from signxml.verifier import SignatureConfiguration

    body = next((c for c in dte if local_name(c) in ("Documento", "Liquidacion", "Exportaciones")), None)
    references = signature.findall("ds:SignedInfo/ds:Reference", _DS)
    if body is None or not body.get("ID"):
        return Check(CheckState.UNCHECKED, "the DTE's Documento has no ID for a signature to name")
    certificate = _certificate(signature)
    has_key = signature.find("ds:KeyInfo/ds:KeyValue/ds:RSAKeyValue", _DS) is not None
    if certificate is None and not has_key:
        return Check(CheckState.UNCHECKED, "the signature carries no certificate or key to check it with")
    if [r.get("URI") for r in references] != [f"#{body.get('ID')}"]:
        return Check(CheckState.INVALID, "the signature does not cover the DTE's Documento (Reference URI)")
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", _DS)
    if method is None or method.get("Algorithm") not in {m.value for m in SignatureMethod}:
        return Check(CheckState.UNCHECKED, "the signature's method is missing or unknown")
    config = SignatureConfiguration(
        require_x509=certificate is not None,
        location="./",
        signature_methods=frozenset(SignatureMethod),
        digest_algorithms=frozenset(DigestAlgorithm),
        verification_time=_signed_at(body, certificate),
    )
    failures: list[Exception] = []
    for form, signed_info_alone, payload_alone in _FORMS:
        verifier = _verifier_class()(signed_info_alone, payload_alone)
        try:
            verifier.verify(dte, x509_cert=certificate, expect_config=config, validate_schema=False)
        except (InvalidSignature, InvalidInput) as exc:
            failures.append(exc)
            if isinstance(exc, InvalidCertificate | InvalidInput):
                break  # the same in every form
            continue
        return Check(CheckState.VALID, "" if form == "in context" else f"verifies with {form}, as SII signers do")
    return Check(CheckState.INVALID, _reason(failures))


def _reason(failures: list[Exception]) -> str:
    from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput

    if any(isinstance(f, InvalidDigest) for f in failures):
        return "the Documento is not what was signed (its digest differs): changed after signing"
    last = failures[-1]
    if isinstance(last, InvalidCertificate):
        return "the signing certificate was not valid when the DTE was signed (TmstFirma)"
    if isinstance(last, InvalidInput) and "KeyValue" in str(last):
        return "the KeyValue and the certificate in KeyInfo are different keys"
    if isinstance(last, InvalidInput):
        return "the signature is malformed or ambiguous (two elements with the signed ID?)"
    return "SignatureValue does not verify with the certificate's key"


def _certificate(signature: etree._Element) -> x509.Certificate | None:
    found = signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _DS)
    if found is None:
        return None
    return x509.load_der_x509_certificate(base64.b64decode("".join((found.text or "").split()), validate=True))


def _signed_at(body: etree._Element, certificate: x509.Certificate | None) -> datetime | None:
    """TmstFirma as an instant; without one, the certificate is taken at its start (its dates not checked)."""
    try:
        signed = datetime.fromisoformat(text(body, "TmstFirma"))
    except ValueError:
        return certificate.not_valid_before_utc if certificate is not None else None
    return signed if signed.tzinfo else signed.replace(tzinfo=CHILE)
