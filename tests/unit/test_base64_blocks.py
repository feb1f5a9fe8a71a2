"""A big base64 body decodes as the standard library decodes it, wherever damage falls among its blocks.

Blocks of even lines, all ended by CRLF or all by LF, take a shorter way through the decoder (nothing
stripped first); any other character in such a block, or a line of another width, must send it the long way.
"""

import base64
import email
import io
import os

import pytest

from pipeline.sources.mime import MimeReader
from pipeline.sources.transfer_encodings import _decode_even_lines
from tests.unit.test_mime import multipart

ALPHABET_OR_SPACE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n"
OUTSIDE = "base64 content held characters outside its alphabet; they were ignored"


EOLS = pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["crlf", "lf"])


@EOLS
@pytest.mark.parametrize("where", [1_000, 65_530, 65_536, 65_537, 140_000, 199_990])
@pytest.mark.parametrize(
    "damage", [b"!", b"\xff", b" ", b"\t", b"-_", b"\r", b"\n", b"\r\n", b"QUJD", b"AB", b"=", b"!!!!", b"    "]
)
def test_damage_anywhere_in_a_big_body_decodes_as_the_standard_library_does(where, damage, eol):
    encoded = base64.encodebytes(os.urandom(150_000)).replace(b"\n", eol)
    encoded = encoded[:where] + damage + encoded[where:]
    _assert_decoded_as_the_standard_library_does(
        encoded, eol=eol, noted=bool(damage.translate(None, ALPHABET_OR_SPACE))
    )


@EOLS
@pytest.mark.parametrize("where", [1_000, 65_530, 140_000])
@pytest.mark.parametrize("instead", [b"!\n", b"\r!", b"!!", b"  ", b"\n\r", b"\r", b"\r\n", b"\n\n"])
def test_a_line_break_replaced_by_other_characters_decodes_as_the_standard_library_does(where, instead, eol):
    encoded = base64.encodebytes(os.urandom(150_000)).replace(b"\n", eol)
    at = encoded.index(eol, where)
    encoded = encoded[:at] + instead + encoded[at + len(eol) :]
    _assert_decoded_as_the_standard_library_does(
        encoded, eol=eol, noted=bool(instead.translate(None, ALPHABET_OR_SPACE))
    )


@EOLS
@pytest.mark.parametrize("width", [76, 64, 4])
def test_a_block_of_even_lines_takes_the_short_way_whichever_the_line_ending(eol, width):
    content = os.urandom(width * 3 // 4 * 500)
    encoded = base64.b64encode(content)
    block = b"".join(encoded[i : i + width] + eol for i in range(0, len(encoded), width))
    assert _decode_even_lines(bytearray(), block) == (content, b"")


def _assert_decoded_as_the_standard_library_does(encoded: bytes, *, eol: bytes, noted: bool) -> None:
    """Decoded as the standard library decodes it, in a message whose every line ends with `eol`."""
    before, after = multipart(
        b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\0"
    ).split(b"\0")
    raw = before.replace(b"\r\n", eol) + encoded + after.replace(b"\r\n", eol)
    [part] = email.message_from_bytes(raw).get_payload()
    [(attachment, data)] = [(a, b"".join(a.open_chunks())) for a in MimeReader(io.BytesIO(raw)).attachments()]
    assert data == part.get_payload(decode=True)
    assert (OUTSIDE in attachment.problems) == noted
