"""The MIME reader against its reference, the standard library's `email` package.

Each mail goes through the real folder source and the real save path (the actors' own
functions, tests/support/inline.py). Then what storage holds must be what the standard
library makes of the same bytes, `email.message_from_bytes(raw)`:

- The stored parts are the standard library's parts, in walk() order, chosen by the
  reader's rule (`stored_parts`).
- Each is stored byte for byte as `part.get_payload(decode=True)` gives it.
- Each is named as `part.get_filename()` names it under the *default* policy. compat32
  (the default of message_from_bytes) leaves RFC 2047 encoded words in a filename as they
  came ("=?utf-8?b?...?="); the default policy decodes them, as every mail client does, and
  Outlook, Gmail and Apple Mail name non-ASCII attachments that way. Both decode RFC 2231.
- The message ends processed: none is left pending or quarantined.

Where the reader differs on purpose, a RULE below says how. Each applies only where its
condition holds, and where the reader's result is not the standard library's, the reader
must have recorded a problem on the attachment that says so.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from django.core.files.storage import storages

from pipeline import config
from pipeline.sources.mime import BODY_TYPES, MAX_MESSAGE_DEPTH
from pipeline.sources.transfer_encodings import KNOWN, PLAIN
from tests.support import mime_samples
from tests.support.inline import process_mailbox
from tests.support.needs import missing
from webapp.inbox.models import Attachment, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

CORPUS = mime_samples.cpython_corpus()
SAMPLES = mime_samples.project_samples()

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass
class Expected:
    """One part the reader must store, as the standard library sees it."""

    name: str | None
    #: The bytes to store; None where the standard library gives none, and `fits` judges.
    content: bytes | None
    #: Words the reader must have recorded about the part, where it departs from the standard library.
    problem: str = ""
    fits: Callable[[bytes], bool] | None = None


# Which parts are stored.


def stored_parts(part: Message, named: Message, *, depth: int = 0, nesting: int = 0) -> list[Expected]:
    """The parts of `part` the reader stores; `named` is the same part parsed with the default policy."""
    assert named.get_content_type() == part.get_content_type(), "both policies parse the same tree"
    if part.get_content_maintype() == "multipart":
        if not isinstance(part.get_payload(), list):
            return []  # no boundary, or one that never comes: no part in it, for either of us
        return [
            found
            for child, named_child in zip(part.get_payload(), named.get_payload(), strict=True)
            for found in stored_parts(child, named_child, depth=depth, nesting=nesting + 1)
        ]
    if part.get_content_type() == "message/rfc822" and encoding(part) in PLAIN and depth < MAX_MESSAGE_DEPTH:
        # RULE: a forwarded message is opened; its attachments are the outer message's
        return stored_parts(part.get_payload(0), named.get_payload(0), depth=depth + 1, nesting=nesting + 1)
    name = filename(named)
    if not (name or part.get_content_disposition() == "attachment" or part.get_content_type() not in BODY_TYPES):
        return []  # the text of the message, not an attachment
    if part.get_content_maintype() == "message":
        return [whole_message(part, name, depth=depth)]
    return [decoded(part, name)]


def filename(named: Message) -> str | None:
    try:
        name = named.get_filename()
    except Exception:
        # RULE: a header the standard library's header classes fail on gives no name; the
        # reader records the problem and names the part from its type
        return None
    # RULE: undecodable bytes in a name become U+FFFD (the standard library keeps them as
    # surrogate escapes, which no database stores); an empty name is no name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if name else None


# How each is decoded.


def decoded(part: Message, name: str | None) -> Expected:
    cte = encoding(part)
    if cte != raw_encoding(part) and cte in KNOWN:
        # RULE: the encoding's name is a token, read without the whitespace around it; the
        # standard library compares the raw value, and leaves a part marked "base64 " encoded
        part = with_encoding(part, cte)
    content = part.get_payload(decode=True)
    assert isinstance(content, bytes)
    if cte not in KNOWN:
        return Expected(name, content, problem=f"unknown Content-Transfer-Encoding {cte!r}")
    if cte == "base64" and content == b"".join(raw_body(part).splitlines()) and data_characters(part) % 4 == 1:
        # RULE: base64 one character longer than a multiple of four cannot be decoded whole;
        # the standard library then returns the encoded text, the reader what does decode
        body = raw_body(part)
        last = max(body.rfind(bytes([char])) for char in _BASE64_ALPHABET)
        shortened = with_body(part, body[:last] + body[last + 1 :]).get_payload(decode=True)
        assert isinstance(shortened, bytes)
        return Expected(name, shortened, problem="base64 content is truncated")
    return Expected(name, content)


def whole_message(part: Message, name: str | None, *, depth: int) -> Expected:
    """A message/* part the reader stores whole, as a file."""
    problem = "nested more than" if part.get_content_type() == "message/rfc822" and depth >= MAX_MESSAGE_DEPTH else ""
    if encoding(part) not in PLAIN:
        # RULE: a message/* part in base64 or quoted-printable (which RFC 2046 forbids) is
        # decoded and stored whole; the standard library does not decode message parts, it
        # parses the encoded text as a message without headers
        [encoded] = part.get_payload()
        assert not encoded.keys(), "the encoded text has no headers"
        content = with_encoding(with_body(Message(), raw_body(encoded)), encoding(part)).get_payload(decode=True)
        assert isinstance(content, bytes)
        return Expected(name, content, problem=problem)

    # RULE: a message/* part other than a forwarded message (a delivery report, an external
    # body), or one nested too deep, is stored whole, as the text of its body; the standard
    # library parses that text into messages and gives no bytes, so the stored text must
    # parse into the same messages
    def fits(stored: bytes) -> bool:
        holder = email.message_from_bytes(b"Content-Type: " + part.get_content_type().encode() + b"\n\n" + stored)
        return [m.as_bytes() for m in holder.get_payload()] == [m.as_bytes() for m in part.get_payload()]

    return Expected(name, None, problem=problem, fits=fits)


def raw_encoding(part: Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).lower()


def encoding(part: Message) -> str:
    return raw_encoding(part).strip()


def raw_body(part: Message) -> bytes:
    body = part.get_payload()
    assert isinstance(body, str)
    return body.encode("ascii", "surrogateescape")


def data_characters(part: Message) -> int:
    return len(raw_body(part).translate(None, bytes(set(range(256)) - set(_BASE64_ALPHABET))))


def with_encoding(part: Message, cte: str) -> Message:
    changed = Message()
    changed["Content-Transfer-Encoding"] = cte
    changed.set_payload(part.get_payload())
    return changed


def with_body(part: Message, body: bytes) -> Message:
    changed = Message()
    if "Content-Transfer-Encoding" in part:
        changed["Content-Transfer-Encoding"] = str(part["Content-Transfer-Encoding"])
    changed.set_payload(body.decode("ascii", "surrogateescape"))
    return changed


# The test: each mail alone through a folder mailbox.


def expected_for(raw: bytes) -> list[Expected]:
    if reused := reused_boundaries(email.message_from_bytes(raw)):
        # RULE: a nested multipart that reuses an enclosing one's boundary (msg_15, msg_39)
        # owns that boundary until its own close delimiter, as its sender meant; the standard
        # library gives every delimiter to the outer one and drops what follows the first close
        # into an epilogue. So the reference reads the mail with each nested use renamed.
        raw = renamed(raw, reused)
        assert not reused_boundaries(email.message_from_bytes(raw))
    return stored_parts(email.message_from_bytes(raw), email.message_from_bytes(raw, policy=email.policy.default))


def reused_boundaries(part: Message, enclosing: frozenset[str] = frozenset()) -> set[str]:
    if part.get_content_maintype() != "multipart" or not (boundary := part.get_boundary()):
        return set()
    found = {boundary} & enclosing
    for child in part.get_payload() if part.is_multipart() else []:
        found |= reused_boundaries(child, enclosing | {boundary})
    return found


def renamed(raw: bytes, boundaries: set[str]) -> bytes:
    """Each declaration of a boundary but the first renamed, with its delimiters up to its close; innermost first."""
    for boundary in boundaries:
        value = re.escape(boundary.encode())
        declarations = list(re.finditer(rb'(?i)boundary\s*=\s*("?)' + value + rb"\1", raw))[1:]
        for number, declaration in reversed(list(enumerate(declarations, start=1))):
            new = boundary.encode() + b"-nested-%d" % number
            head, tail = raw[: declaration.start()], raw[declaration.end() :]
            close = re.search(rb"(?m)^--" + value + rb"--", tail)
            end = close.end() if close else len(tail)
            inside = re.sub(rb"(?m)^--" + value + rb"(?=--|[ \t]*\r?$)", b"--" + new, tail[:end])
            raw = head + b'boundary="' + new + b'"' + inside + tail[end:]
    return raw


def assert_stored_as_the_reference_reads_it(tmp_path: Path, raw: bytes) -> None:
    expected = expected_for(raw)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "mail.eml").write_bytes(raw)
    processed = process_mailbox(Mailbox.objects.create(name="reference", settings={"path": str(inbox)}))

    assert processed.raised == [], "a mail ends in a recorded reason, not in an actor's exception"
    message = MailMessage.objects.get()
    assert message.status == MailMessage.Status.PROCESSED, f"{message.status}: {message.error}"
    stored = list(Attachment.objects.filter(message=message).order_by("position").select_related("blob"))
    names = [a.original_filename for a in stored]
    assert len(stored) == len(expected), f"stored {names}, the reference has {[want.name for want in expected]}"
    for attachment, want in zip(stored, expected, strict=True):
        label = f"part {attachment.position} ({attachment.original_filename})"
        if want.name:
            assert attachment.original_filename == want.name[:1024], label
        else:
            assert attachment.original_filename.startswith("attachment-"), label
        assert want.problem in attachment.error, f"{label}: the reader must say {want.problem!r}"
        if want.content is not None and not want.content:
            # RULE: an empty part is recorded as skipped, with its reason; storage holds no empty objects
            assert attachment.status == Attachment.Status.SKIPPED and "0 bytes" in attachment.error, label
            continue
        if want.content is not None and len(want.content) > config.MAX_ATTACHMENT_BYTES:
            # RULE: content over the size cap is not stored; the row says why
            assert attachment.status == Attachment.Status.FAILED and "limit" in attachment.error, label
            continue
        assert attachment.status == Attachment.Status.STORED, f"{label}: {attachment.status} {attachment.error}"
        with storages["default"].open(attachment.blob.storage_name) as handle:
            content = handle.read()
        if want.fits is not None:
            assert want.fits(content), f"{label}: stored {content[:200]!r}"
        else:
            assert content == want.content, f"{label}: stored {content[:120]!r}, the reference {want.content[:120]!r}"


@pytest.mark.parametrize("path", CORPUS or [None], ids=[path.name for path in CORPUS or []] or ["missing"])
def test_cpython_email_corpus(tmp_path, path):
    if path is None:
        missing(
            "CPython's email test corpus (test/test_email/data in the interpreter's test package)",
            install="an interpreter with its test package (python.org builds and pyenv have it; "
            "Debian: apt-get install libpython3.11-testsuite)",
        )
    assert_stored_as_the_reference_reads_it(tmp_path, path.read_bytes())


@pytest.mark.parametrize("name", list(SAMPLES))
def test_project_samples(tmp_path, name):
    assert_stored_as_the_reference_reads_it(tmp_path, SAMPLES[name]())
