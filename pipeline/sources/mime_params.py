"""A Content-Type or Content-Disposition value checked in one pass, and RFC 2047 words in a file name decoded.

The legacy reader of parameters (email.message.Message.get_param and friends under compat32) takes
linear time where the default policy's header classes do not, once a value's ';' are bounded; but
it reports nothing it finds wrong, reads an RFC 2231 value in an unknown charset as Latin-1, and
leaves encoded words ("=?utf-8?b?...?=") in a file name. This module does what it does not, never
recursing: a value of comments nested deeper than MAX_COMMENT_DEPTH is refused (UnreadableValue).
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass

#: Most ';' of a value read: the legacy reader looks for the end of a quoted string from the start of a
#: parameter at each ';', its time growing with their number times the value's length. Real values hold
#: a few; a long file name in RFC 2231 sections some 40.
MAX_FIELD_PARAMETERS = 100
#: Comments a value may nest, "((a))" being two; no mailer writes more than one.
MAX_COMMENT_DEPTH = 20

_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_TYPES = {
    "Content-Type": re.compile(rf"\s*{_TOKEN}\s*/\s*{_TOKEN}\s*"),
    "Content-Disposition": re.compile(rf"\s*{_TOKEN}\s*"),
}
_PIECES = re.compile(r'[^"()\\;]+|\\.?|["();]', re.DOTALL)
_ATTRIBUTE = re.compile(r"([^*]+)(?:\*([0-9]{1,9}))?(\*)?")
_VALUE = re.compile(rf'\s*(?:""|{_TOKEN})\s*')
_CHARSET = re.compile(r"([^=]*=\s*\"?)([^']*)'")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\?=")
_SPACE = re.compile(r"([ \t]+)")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


class UnreadableValue(ValueError):
    pass


@dataclass(frozen=True)
class FieldValue:
    #: The value as given, unfolded.
    given: str
    #: What the legacy reader is given: the value unfolded, cut at MAX_FIELD_PARAMETERS ';', its parameters
    #: without comments or quoted pairs, an unterminated quoted string closed, and an RFC 2231 charset it
    #: does not know named UTF-8 (as the default policy reads it).
    text: str
    #: What is wrong in it, worded for a person; empty when nothing is.
    malformed: tuple[str, ...]


def field_value(name: str, value: str) -> FieldValue:
    """`value` of the field `name` (Content-Type or Content-Disposition), ready for the legacy reader."""
    given = text = value.replace("\r", "").replace("\n", "")
    malformed = []
    if text.count(";") > MAX_FIELD_PARAMETERS:
        text = ";".join(text.split(";", MAX_FIELD_PARAMETERS + 1)[: MAX_FIELD_PARAMETERS + 1])
        malformed.append(f"more than {MAX_FIELD_PARAMETERS} parameters; the rest was not read")
    kind, pieces, bare, quote_open, comment_open = _segments(text)
    pieces[0] = kind  # a type keeps its comments, as the legacy reader (and the compat32 parser) reads them
    if quote_open:
        malformed.append("a quoted string is never closed")
    if comment_open:
        malformed.append("a comment is never closed")
    if not _TYPES[name].fullmatch(bare[0]):
        malformed.append(
            f"{bare[0].strip()[:40]!r} is no {'type/subtype' if name == 'Content-Type' else 'disposition'}"
        )
    malformed += _read_parameters(pieces, bare)
    text = ";".join(pieces) + ('"' if quote_open else "")
    return FieldValue(given=given, text=text, malformed=tuple(malformed))


def _segments(text: str) -> tuple[str, list[str], list[str], bool, bool]:
    """The type of `text` as it is, and `text` split at each ';' outside quotes and comments, each piece as the
    legacy reader should read it
    (comments out, quoted pairs other than \\\\ and \\" undone, as RFC 5322 reads them), and as `_VALUE` checks
    it (each quoted string as '""', each comment as a space); and whether a quoted string, a comment, is left open."""
    plain: list[list[str]] = [[]]
    bare: list[list[str]] = [[]]
    kind = ""
    quoted = False
    depth = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if quoted:
            quoted = piece != '"'
            plain[-1].append(piece[1:] if piece[0] == "\\" and piece[1:] not in ("\\", '"') else piece)
        elif depth:
            depth += {"(": 1, ")": -1}.get(piece, 0)
            if depth > MAX_COMMENT_DEPTH:
                raise UnreadableValue(f"comments nested more than {MAX_COMMENT_DEPTH} levels deep")
        elif piece in ('"', "("):
            quoted, depth = piece == '"', int(piece == "(")
            plain[-1].append('"' if quoted else " ")
            bare[-1].append('""' if quoted else " ")
        elif piece == ";":
            kind = kind or text[: match.start()]
            plain.append([])
            bare.append([])
        else:
            plain[-1].append(piece)
            bare[-1].append(piece)
    pieces, bare_pieces = ["".join(segment) for segment in plain], ["".join(segment) for segment in bare]
    return (kind if len(pieces) > 1 else text), pieces, bare_pieces, quoted, depth > 0


def _read_parameters(pieces: list[str], bare: list[str]) -> list[str]:
    """What is wrong in the parameters (pieces[1:]); an RFC 2231 charset unknown, or none, becomes UTF-8 in place."""
    problems: list[str] = []
    seen: set[str] = set()
    sections: dict[str, set[int]] = {}
    last = len(pieces) - 1 if not bare[-1].strip() else len(pieces)  # "text/plain;": common, and harmless
    for index in range(1, last):
        parameter = bare[index]
        if not parameter.strip():
            problems.append("an empty parameter")
            continue
        attribute, equals, value = parameter.partition("=")
        attribute = attribute.strip().lower()
        parts = _ATTRIBUTE.fullmatch(attribute)
        if not equals or parts is None or not re.fullmatch(_TOKEN, parts[1]):
            problems.append(f"{parameter.strip()[:40]!r} is no parameter")
            continue
        base, section = parts[1], None if parts[2] is None else int(parts[2])
        key = attribute if section is None else f"{base}*{section}"
        if key in seen:
            problems.append(f"{base!r} is given twice")
        seen.add(key)
        if section is not None:
            sections.setdefault(base, set()).add(section)
        if not value.strip():
            problems.append(f"{attribute!r} has no value")
        elif not _VALUE.fullmatch(value):
            problems.append(f"the value of {attribute!r} is neither a token nor a quoted string")
        elif parts[3]:
            problems += _extended_value_problems(attribute, value.strip(), first=not section)
            if not section and (charset := _CHARSET.match(pieces[index])) and not _known_charset(charset[2]):
                pieces[index] = charset[1] + "utf-8" + pieces[index][charset.end(2) :]
    for base, numbers in sections.items():
        if numbers != set(range(len(numbers))):
            problems.append(f"the sections of {base!r} are not numbered from 0 without gaps")
    return problems


def _extended_value_problems(attribute: str, value: str, *, first: bool) -> list[str]:
    """RFC 2231: charset'language'%-encoded text, or %-encoded text after the first section."""
    problems = []
    if first:
        charset, *rest = value.split("'", 2)
        if len(rest) < 2:
            problems.append(f"{attribute!r} does not start with charset'language'")
        elif charset and not _known_charset(charset):
            problems.append(f"{attribute!r} is in an unknown charset {charset[:40]!r}")
    if _BAD_ESCAPE.search(value):
        problems.append(f"{attribute!r} holds a '%' that is no %-escape")
    return problems


def _known_charset(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except (LookupError, ValueError):
        return False
    return True


def decode_words(text: str) -> tuple[str, bool]:
    """`text` with the RFC 2047 encoded words that open a run of it decoded, as the default policy does
    inside a quoted string: white space between two words goes; and whether every word could be decoded."""
    runs = _SPACE.split(text)  # run, space, run, space... run
    decoded: list[str] = []
    readable = True
    ends_in_word = False
    for index in range(0, len(runs), 2):
        run = runs[index]
        position = 0
        while word := _WORD.match(run, position):
            piece, fine = _decoded_word(word)
            readable = readable and fine
            if position == 0 and index and ends_in_word:
                decoded.pop()  # the space between two encoded words
            decoded.append(piece)
            position = word.end()
        decoded.append(run[position:])
        ends_in_word = bool(position) and position == len(run)
        if index + 1 < len(runs):
            decoded.append(runs[index + 1])
    return "".join(decoded), readable


def _decoded_word(word: re.Match[str]) -> tuple[str, bool]:
    charset = word[1].partition("*")[0]  # RFC 2231 lets a word name its language after a '*'
    data = word[3].encode("utf-8", "surrogateescape")
    try:
        if word[2] in "bB":
            data = binascii.a2b_base64(data + b"===")
        else:
            data = _Q_ESCAPE.sub(lambda escape: bytes([int(escape[1], 16)]), data.replace(b"_", b" "))
    except binascii.Error:
        return word.group(), False
    try:
        return data.decode(charset, "replace"), True
    except (LookupError, ValueError):  # an unknown charset, or a codec that is no text encoding
        return data.decode("utf-8", "replace"), False
