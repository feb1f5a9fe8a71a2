"""The web's gunicorn worker: gthread, except that a request reaches a thread only once it has arrived.

gunicorn's gthread worker gives a connection to a thread as soon as it has bytes to read, and the
thread then blocks until the request's headers are complete. A client that sends half its headers
and stops holds that thread for good: WEB_THREADS such connections and the web answers no one, not
even /health/live (issue 21). Here the worker's main loop, which already watches every idle
connection without blocking, also reads each request's head, and its body when that is a small one
of known length (a login form), and hands the connection to a thread only once they are in. A
request not complete within WEB_HEADER_TIMEOUT seconds is closed unanswered; a head over
MAX_HEAD_BYTES (32 KB) is answered 431.

Not covered (a buffering reverse proxy in front covers them; see the README's deploy section):
a larger or chunked request body, and a client slow to read its answer (a download), hold a thread
while they last; and connections that never finish still count against gunicorn's
worker_connections (1000 per worker) until their deadline, so a client that opens a thousand of
them at once keeps new ones waiting in the listen queue.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import time
from collections import deque
from functools import partial

from gunicorn import http
from gunicorn.http.parser import RequestParser
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from pipeline import config
from pipeline.middleware.memory import IDLE_SECONDS, release_memory, released

#: The most a request's line and headers may take: far above a browser's, well below gunicorn's own limits.
MAX_HEAD_BYTES = 32 * 1024
#: A body of known length up to this size is read in before a thread takes the request.
MAX_BUFFERED_BODY_BYTES = 32 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_EXPECTS_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def body_to_wait_for(head: bytes) -> int:
    """Bytes of body a thread would wait for after `head`, which the main loop reads in first.

    The one Content-Length when it is at most MAX_BUFFERED_BODY_BYTES; none when the client waits
    for gunicorn's "100 Continue" before it sends the body, or when the parser will refuse the head
    (two lengths: it answers 400).
    """
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) != 1 or _EXPECTS_CONTINUE.search(head):
        return 0
    length = int(lengths[0])
    return length if length <= MAX_BUFFERED_BODY_BYTES else 0


class ArrivingRequest:
    """The bytes of one request so far; each byte is looked at once, however thinly they come."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray()
        self.body_starts: int | None = None  # once the head is in
        self.body_length = 0
        self.add(data)

    def add(self, data: bytes) -> None:
        searched_up_to = max(0, len(self.data) - 3)  # the end of the head may straddle the new bytes
        self.data += data
        if self.body_starts is None and (end := _HEAD_END.search(self.data, searched_up_to)):
            self.body_starts = end.end()
            self.body_length = body_to_wait_for(bytes(self.data[: end.start()]))

    @property
    def complete(self) -> bool:
        return self.body_starts is not None and len(self.data) - self.body_starts >= self.body_length

    @property
    def head_too_large(self) -> bool:
        return self.body_starts is None and len(self.data) > MAX_HEAD_BYTES


class HeadersFirstWorker(ThreadWorker):
    """gthread, with each request read in by the main loop before a thread serves it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = float(config.get("WEB_HEADER_TIMEOUT"))
        #: Connections whose request is still arriving, by deadline (all get the same timeout).
        self.arriving: deque[TConn] = deque()
        #: Requests begun when this worker last saw a new one, when that was, and at its last trim.
        self._requests_seen = self._requests_trimmed = 0
        self._quiet_since = time.monotonic()

    def enqueue_req(self, conn: TConn) -> None:
        """Every way a connection reaches a thread goes through here: new, kept alive, read ahead."""
        if conn.parser is None and not (self.cfg.is_ssl or negotiation.prior_knowledge_allowed(self.cfg, conn.client)):
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        if isinstance(conn.parser, RequestParser):
            conn.request = ArrivingRequest(conn.parser.unreader.take_buffered())
            if not conn.request.complete:
                conn.sock.setblocking(False)
                conn.arriving_until = time.monotonic() + self.header_timeout
                self.arriving.append(conn)
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
                return
            conn.parser.unreader.unread(bytes(conn.request.data))
        super().enqueue_req(conn)

    def _on_readable(self, conn: TConn, client: object) -> None:
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES + MAX_BUFFERED_BODY_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.request.add(data)
        if conn.request.complete:
            self._stop_watching(conn)
            conn.parser.unreader.unread(bytes(conn.request.data))
            conn.data_ready = True  # no wait for data in the thread: it is all here
            super().enqueue_req(conn)
        elif conn.request.head_too_large:
            with contextlib.suppress(OSError):
                conn.sock.send(_TOO_LARGE)
            self._drop(conn)

    def _stop_watching(self, conn: TConn) -> None:
        self.poller.unregister(conn.sock)
        self.arriving.remove(conn)

    def _drop(self, conn: TConn) -> None:
        self._stop_watching(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """gunicorn's sweep of connections waiting for data, and ours of requests past their deadline."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive:  # stopping: as long as gunicorn gives a kept-alive connection, no longer
            for conn in self.arriving:
                conn.arriving_until = min(conn.arriving_until, now + STOP_KEEPALIVE_LINGER)
        while self.arriving and self.arriving[0].arriving_until <= now:
            self.log.debug("Closing a connection whose request did not arrive in %s s", self.header_timeout)
            self._drop(self.arriving[0])
        self._trim_when_idle(now)

    def _trim_when_idle(self, now: float) -> None:
        """After a burst of requests, once none began for IDLE_SECONDS, give the freed memory back
        (and the warm sandbox children of the threads that drew a printable or a preview)."""
        if self.nr != self._requests_seen:
            self._requests_seen, self._quiet_since = self.nr, now
        elif self.nr != self._requests_trimmed and now - self._quiet_since >= IDLE_SECONDS:
            self._requests_trimmed = self.nr
            from pipeline import sandbox  # here: the master loads this module too, and only a worker trims

            children = sandbox.close_idle_children()
            before, after = release_memory()
            self.log.info(
                "idle after %d requests: memory released, %s, %d sandbox children let go",
                self.nr,
                released(before, after),
                children,
            )
