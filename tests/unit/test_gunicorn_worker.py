"""What the web's worker (webapp/gunicorn_worker.py) waits for before a thread takes a request; the worker
itself runs in tests/integration/test_slow_clients.py."""

from __future__ import annotations

import time

from webapp.gunicorn_worker import MAX_BUFFERED_BODY_BYTES, MAX_HEAD_BYTES, ArrivingRequest

HEAD = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"


def _post(body: bytes, *, length: int | None = None, extra: bytes = b"") -> bytes:
    length = len(body) if length is None else length
    return b"POST /admin/login/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (length, extra, body)


def arrived_after(data: bytes, *, piece: int = 1) -> int | None:
    """How many bytes of `data`, fed `piece` at a time, make the request complete (None: never)."""
    request = ArrivingRequest()
    for start in range(0, len(data), piece):
        request.add(data[start : start + piece])
        if request.complete:
            return start + len(data[start : start + piece])
    return None


def test_a_head_is_complete_at_its_blank_line_however_it_is_cut():
    for piece in (1, 2, 3, 5, len(HEAD)):
        assert arrived_after(HEAD, piece=piece) == len(HEAD), piece
    assert arrived_after(HEAD[:-2]) is None
    assert arrived_after(b"GET / HTTP/1.1\nHost: x\n\n") is not None, "bare newlines: the parser judges them"


def test_a_small_body_of_known_length_is_waited_for():
    form = _post(b"username=a&password=b")
    assert arrived_after(form) == len(form)
    assert arrived_after(form[:-1]) is None


def test_a_body_it_does_not_hold_is_left_to_the_thread():
    assert arrived_after(_post(b"", length=MAX_BUFFERED_BODY_BYTES + 1)) is not None, "too large to hold"
    assert arrived_after(_post(b"", length=10, extra=b"Expect: 100-continue\r\n")) is not None
    assert arrived_after(_post(b"", length=10, extra=b"Content-Length: 11\r\n")) is not None, "two: a 400"
    chunked = b"POST /admin/login/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert arrived_after(chunked) == len(chunked), "a chunked body is the thread's to read"


def test_a_head_past_its_limit_is_too_large():
    request = ArrivingRequest(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEAD_BYTES)
    assert request.head_too_large and not request.complete
    assert not ArrivingRequest(HEAD).head_too_large


def test_each_byte_is_looked_at_once_when_they_come_one_at_a_time():
    """The main loop serves every connection: a trickled head must not cost it quadratic time."""
    head = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * (MAX_HEAD_BYTES - 100) + b"\r\n\r\n"
    started = time.process_time()
    assert arrived_after(head) == len(head)
    assert time.process_time() - started < 1.0
