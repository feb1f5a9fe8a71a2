"""Mails to hold the MIME reader to the standard library with (tests/unit/test_mime_reference.py).

CPython's own email test corpus, and the project's samples: the demo supplier mails, the .eml
builders of other tests, and the real DTE files of tests/data/cl-sii wrapped in every transfer
encoding, line ending and filename form a supplier's mailer may use.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib.util
import quopri
import tempfile
from collections.abc import Callable
from email.header import Header
from pathlib import Path

from pipeline import samples

#: Real DTE files, as their issuers produced them.
REAL_DTE = sorted((Path(__file__).parent.parent / "data" / "cl-sii").glob("DTE--*.xml"))
#: How many mails of the demo mailbox (`make run`'s) are taken.
DEMO_MAILS = 5
#: Bytes of a line of uuencoded content (what uuencode(1) writes).
UU_LINE_BYTES = 45


def cpython_corpus() -> list[Path] | None:
    """test/test_email/data/msg_*.txt of the running interpreter; None when it has no test package."""
    try:
        spec = importlib.util.find_spec("test.test_email")
    except ImportError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations)), "data").glob("msg_*.txt"))
    return found or None


def mail(*parts: bytes, boundary: bytes = b"=_b", eol: bytes = b"\r\n") -> bytes:
    """A multipart/mixed mail with a text body and `parts` (each as `attachment` builds it), lines ending in `eol`."""
    head = [
        b"From: Proveedora <facturacion@proveedora.cl>",
        b"To: facturas@empresa.cl",
        b"Subject: DTE",
        b"Message-ID: <%d@proveedora.cl>" % (hash((parts, boundary, eol)) & 0xFFFFFFFF),
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
        b"",
        b"--" + boundary,
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        "Adjunto envío DTE.".encode(),
    ]
    body = eol.join(head) + eol
    for part in parts:
        body += b"--" + boundary + eol + part + eol
    return body + b"--" + boundary + b"--" + eol


def attachment(headers: bytes, body: bytes, *, eol: bytes = b"\r\n") -> bytes:
    """One part; `headers` are lines joined by \\n. The body keeps its own line endings."""
    return headers.replace(b"\n", eol) + eol + eol + body


def uuencode(data: bytes, *, name: str = "dte.xml", eol: bytes = b"\n") -> bytes:
    lines = [b"begin 644 " + name.encode()]
    for start in range(0, len(data), UU_LINE_BYTES):
        lines.append(binascii.b2a_uu(data[start : start + UU_LINE_BYTES]).rstrip(b"\n"))
    return eol.join([*lines, b"`", b"end"]) + eol


def named(name: str, *, ctype: bytes = b"application/xml", cte: bytes = b"base64") -> bytes:
    """Headers of a part whose Content-Disposition carries `name` as given (already encoded)."""
    return (
        b"Content-Type: " + ctype + b"\nContent-Transfer-Encoding: " + cte + b"\nContent-Disposition: " + name.encode()
    )


def _encoded_by(cte: str, data: bytes, eol: bytes) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data).replace(b"\n", eol)
    if cte == "quoted-printable":
        return quopri.encodestring(data).replace(b"\n", eol)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return uuencode(data, eol=eol)
    return data  # 7bit, 8bit, binary, an unknown one: as is


def _dte_in(cte: str, path: Path, *, eol: bytes) -> Callable[[], bytes]:
    def build() -> bytes:
        data = path.read_bytes()
        headers = f"Content-Type: application/xml\nContent-Transfer-Encoding: {cte}\n"
        headers += f'Content-Disposition: attachment; filename="{path.name}"'
        return mail(attachment(headers.encode(), _encoded_by(cte, data, eol), eol=eol), eol=eol)

    return build


@functools.cache
def _demo_mails() -> tuple[bytes, ...]:
    with tempfile.TemporaryDirectory() as folder:
        return tuple(path.read_bytes() for path in samples.write_demo_mailbox(Path(folder), count=DEMO_MAILS))


def _demo_mailbox() -> dict[str, Callable[[], bytes]]:
    return {
        f"demo-mail-{number + 1}": functools.partial(lambda n: _demo_mails()[n], number) for number in range(DEMO_MAILS)
    }


def _other_tests() -> dict[str, Callable[[], bytes]]:
    from tests.unit import test_hostile_input as hostile

    return {
        f"hostile-{build.__name__}": build
        for build in (
            hostile.rfc2231_name,
            hostile.encoded_word_name,
            hostile.unclosed_boundary,
            hostile.nested_message,
        )
    }


XML = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<DTE><RznSoc>Compañía Ñuñoa</RznSoc></DTE>\n'.encode("latin-1")
UU_XML = uuencode(XML)

#: Transfer encodings: the standard library's, and names it does not know.
ENCODINGS = [
    "base64",
    "quoted-printable",
    "7bit",
    "8bit",
    "binary",
    "x-uuencode",
    "uuencode",
    "x-uue",
    "uue",
    "x-unknown",
]

#: uuencoded content as encoders write it, and as they break it.
UU_CASES = {
    "uu-crlf": uuencode(XML, eol=b"\r\n"),
    "uu-text-before-begin": b"here it comes:\n\n" + UU_XML,
    "uu-text-after-end": UU_XML + b"\n-- \nsent by uuencode\n",
    "uu-no-end-line": UU_XML.removesuffix(b"`\nend\n"),
    "uu-no-begin-line": UU_XML.partition(b"\n")[2],
    "uu-begin-without-octal-mode": b"begin rw-r--r-- dte.xml\n" + UU_XML,
    "uu-empty-line-before-end": UU_XML.replace(b"`\nend", b"\n`\nend"),
    "uu-line-that-does-not-decode": UU_XML.replace(b"\n", b"\n\xff\xfe\n", 2),
    "uu-broken-encoder-padding": UU_XML.replace(b"\n", b"garbage!!\n", 2),
    "uu-end-line-with-spaces": UU_XML.replace(b"\nend\n", b"\n  end \t\n"),
}

#: base64 as encoders write it, and as they break it.
BASE64_CASES = {
    "b64-no-padding": base64.b64encode(b"ABCDE").rstrip(b"="),
    "b64-one-character-too-many": base64.b64encode(b"ABC") + b"Q",
    "b64-padding-then-more": base64.b64encode(b"A") + base64.b64encode(b"BCD"),
    "b64-footer-after-padding": base64.encodebytes(b"<DTE/>\n") + b"\n-- \nenviado desde mi telefono\n",
    "b64-outside-alphabet": b"PERU*RT4\n!!!\nPC9EVEU+\n",
    "b64-spaces-and-tabs": b"PER UR\tT4\n PC9E VEU+ \n",
    "b64-equals-where-no-padding-can-be": b"P=ERU=RT4=\n",
    "b64-padding-split-over-lines": b"QUJDRA=\n=\n",
    "b64-empty": b"",
}

#: quoted-printable as encoders write it, and as they break it.
QP_CASES = {
    "qp-soft-breaks-and-escapes": b"<a>caf=C3=A9 con leche=\n larga</a>\n<b>l=c3=adnea =3D dos</b>=\n",
    "qp-broken-escapes": b"=ZZ =4 ==41 = trailing=",
    "qp-soft-break-crlf": b"one=\r\ntwo=\r\n",
    "qp-long-line": b"x" * 100_000 + b"=41=\n" + b"y" * 70_000,
}

#: Filenames: RFC 2231 and encoded words in several charsets, Content-Type's name, raw 8-bit bytes.
FILENAME_CASES = {
    "name-rfc2231-utf8": "attachment; filename*=UTF-8''factura%20%C3%B1and%C3%BA.xml",
    "name-rfc2231-latin1": "attachment; filename*=iso-8859-1''Compa%F1%EDa.xml",
    "name-rfc2231-windows1252": "attachment; filename*=windows-1252'es'%93DTE%94%20%80.xml",
    "name-rfc2231-continued": "attachment; filename*0*=UTF-8''Nota%20de%20cr%C3%A9; filename*1*=dito%20; filename*2=61.xml",
    "name-rfc2231-unknown-charset": "attachment; filename*=x-martian''caf%E9.xml",
    "name-rfc2231-no-charset": "attachment; filename*=''caf%C3%A9.xml",
    "name-encoded-word-utf8-b": 'attachment; filename="=?utf-8?b?RmFjdHVyYSDDsS54bWw=?="',
    "name-encoded-word-latin1-q": 'attachment; filename="=?iso-8859-1?q?Compa=F1=EDa_Ltda.xml?="',
    "name-encoded-word-koi8r": 'attachment; filename="' + Header("счёт.xml", "koi8-r").encode() + '"',
    "name-encoded-word-shift-jis": 'attachment; filename="' + Header("請求書.xml", "shift_jis").encode() + '"',
    "name-encoded-word-two-words": 'attachment; filename="=?utf-8?q?Nota_de_cr=C3=A9?= =?utf-8?q?dito.xml?="',
    "name-quoted-with-escapes": 'attachment; filename="a \\"quoted\\" name.xml"',
    "name-empty": 'attachment; filename=""',
}


def project_samples() -> dict[str, Callable[[], bytes]]:
    """Every sample mail of the project, by a name that says what it holds."""
    found: dict[str, Callable[[], bytes]] = {
        "supplier-email": samples.supplier_email,
        "supplier-email-no-attachments": lambda: samples.supplier_email(attachments=[]),
        **_demo_mailbox(),
        **_other_tests(),
    }
    for path in REAL_DTE:
        for cte in ENCODINGS:
            for eol_name, eol in (("lf", b"\n"), ("crlf", b"\r\n")):
                found[f"real-{path.stem}-{cte}-{eol_name}"] = _dte_in(cte, path, eol=eol)
    for name, body in UU_CASES.items():
        found[name] = _one(b"Content-Type: application/xml\nContent-Transfer-Encoding: x-uuencode\n", body)
    for name, body in BASE64_CASES.items():
        found[name] = _one(b"Content-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n", body)
    for name, body in QP_CASES.items():
        found[name] = _one(b"Content-Type: text/xml; name=a.xml\nContent-Transfer-Encoding: quoted-printable\n", body)
    for name, disposition in FILENAME_CASES.items():
        found[name] = _one(named(disposition).rstrip(), base64.encodebytes(XML))
    found |= {
        "name-raw-latin1-bytes": _one(
            b'Content-Type: application/xml\nContent-Disposition: attachment; filename="Compa\xf1\xeda.xml"\n', XML
        ),
        "name-in-content-type-only": _one(b'Content-Type: application/xml; name="=?utf-8?q?d=C3=A9te.xml?="\n', XML),
        "cte-with-trailing-space": _one(
            b"Content-Type: application/xml; name=a.xml\nContent-Transfer-Encoding: base64 \n",
            base64.encodebytes(XML),
        ),
        "cte-in-capitals": _one(
            b"Content-Type: application/xml; name=a.xml\nContent-Transfer-Encoding: BASE64\n", base64.encodebytes(XML)
        ),
        "rfc822-in-base64": _one(
            b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n",
            base64.encodebytes(samples.supplier_email(attachments=[("inner.xml", "application/xml", XML)])),
        ),
        "single-part-attachment": lambda: (
            b"From: a@b.cl\nMIME-Version: 1.0\nContent-Type: application/xml; name=solo.xml\n"
            b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(XML)
        ),
    }
    return found


def _one(headers: bytes, body: bytes) -> Callable[[], bytes]:
    return lambda: mail(attachment(headers.rstrip(b"\n"), body, eol=b"\n"), eol=b"\n")
