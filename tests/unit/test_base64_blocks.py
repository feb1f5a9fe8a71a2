"""A big base64 body decodes as the standard library decodes it, wherever damage falls among its blocks.

Blocks of even CRLF lines take a shorter way through the decoder (nothing stripped first); any
other character in such a block, or a line of another width, must send it the long way.
"""

import base64
import email
import io
import os

import pytest

from pipeline.sources.mime import MimeReader
from tests.unit.test_mime import multipart

ALPHABET_OR_SPACE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n"
OUTSIDE = "base64 content held characters outside its alphabet; they were ignored"


@pytest.mark.parametrize("where", [1_000, 65_530, 65_536, 65_537, 140_000, 199_990])
@pytest.mark.parametrize(
    "damage", [b"!", b"\xff", b" ", b"\t", b"-_", b"\r", b"\n", b"\r\n", b"QUJD", b"AB", b"=", b"!!!!", b"    "]
)
def test_damage_anywhere_in_a_big_body_decodes_as_the_standard_library_does(where, damage):
    encoded = base64.encodebytes(os.urandom(150_000)).replace(b"\n", b"\r\n")
    encoded = encoded[:where] + damage + encoded[where:]
    _assert_decoded_as_the_standard_library_does(encoded, noted=bool(damage.translate(None, ALPHABET_OR_SPACE)))


@pytest.mark.parametrize("where", [1_000, 65_530, 140_000])
@pytest.mark.parametrize("instead", [b"!\n", b"\r!", b"!!", b"  ", b"\n\r"])
def test_a_line_break_replaced_by_other_characters_decodes_as_the_standard_library_does(where, instead):
    encoded = base64.encodebytes(os.urandom(150_000)).replace(b"\n", b"\r\n")
    at = encoded.index(b"\r\n", where)
    encoded = encoded[:at] + instead + encoded[at + 2 :]
    _assert_decoded_as_the_standard_library_does(encoded, noted=bool(instead.translate(None, ALPHABET_OR_SPACE)))


def _assert_decoded_as_the_standard_library_does(encoded: bytes, *, noted: bool) -> None:
    raw = multipart(b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded)
    [part] = email.message_from_bytes(raw).get_payload()
    [(attachment, data)] = [(a, b"".join(a.open_chunks())) for a in MimeReader(io.BytesIO(raw)).attachments()]
    assert data == part.get_payload(decode=True)
    assert (OUTSIDE in attachment.problems) == noted
