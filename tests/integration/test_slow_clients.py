"""Clients that open a connection and never finish their request do not take the web down.

The Procfile's real web (1 worker x WEB_THREADS threads) is held by connections that send a part of
a request line, a part of the headers, nothing at all, headers a byte at a time, a kept-alive
connection's second request half-sent, or a small form body that never completes; meanwhile
/health/live must answer as quickly as ever. Such a connection is closed once WEB_HEADER_TIMEOUT
has passed.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from pipeline.embedded_redis import EmbeddedRedis
from tests.support.processes import ProcfileProcess, free_port, run_procfile_once, wait_for

pytestmark = [pytest.mark.slow]

WEB_THREADS = 4
#: The web closes an unfinished request after this many seconds (the test keeps its probes well inside it).
HEADER_TIMEOUT = 6
#: Slowest answer of /health/live that counts as quick.
QUICK_SECONDS = 1.5
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[int]:
    """The Procfile's web on a free port; yields the port."""
    tmp_path = tmp_path_factory.mktemp("slow-clients")
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "slow-clients-test-key-4f1c9a7e2b6d0853-XyZqWvUtSrPoNmLk",
            "DEBUG": "false",
            "HTTPS": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WEB_THREADS": str(WEB_THREADS),
            "WEB_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        run_procfile_once("release", env)
        port = free_port()
        process = ProcfileProcess("web", dict(env, PORT=str(port)), tmp_path)
        try:
            wait_for(lambda: _live_seconds(port) is not None, timeout=30, what="the web", processes=[process])
            yield port
        finally:
            code = process.stop()
        assert code == 0, process.log()[-3000:]


def _live_seconds(port: int, timeout: float = 5) -> float | None:
    """Seconds /health/live took to answer 200, None when it did not."""
    started = time.monotonic()
    try:
        ok = requests.get(f"http://{HOST}:{port}/health/live", timeout=timeout).status_code == 200
    except requests.RequestException:
        return None
    return time.monotonic() - started if ok else None


def _connect(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=30)
    if first:
        sock.sendall(first)
    return sock


def _kept_alive_then_half_a_request(port: int) -> socket.socket:
    sock = _connect(port, f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, answer
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower(), head
    sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\n".encode())
    return sock


#: How each kind of slow client opens its connection (it then never sends the rest).
SLOW_CLIENTS: dict[str, Callable[[int], socket.socket]] = {
    "half a request line": lambda port: _connect(port, b"GET /health/li"),
    "half the headers": lambda port: _connect(port, f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\n".encode()),
    "nothing at all": lambda port: _connect(port, b""),
    "a kept-alive connection's second request": _kept_alive_then_half_a_request,
    "a form body cut short": lambda port: _connect(
        port,
        f"POST /admin/login/ HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: 1000\r\n\r\nusername=a".encode(),
    ),
}


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    """Headers one byte every 0.2 s, never the blank line that ends them."""
    line = f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: " + "a" * 10_000
    for byte in line.encode():
        if stop.wait(0.2):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


def _probe(port: int, *, count: int = 5) -> list[float | None]:
    probes = []
    for _ in range(count):
        probes.append(_live_seconds(port))
        time.sleep(0.2)
    return probes


@pytest.mark.parametrize("held", [2, WEB_THREADS, WEB_THREADS + 3], ids=lambda n: f"{n} connections")
@pytest.mark.parametrize("kind", [*SLOW_CLIENTS, "headers a byte at a time"])
def test_unfinished_requests_leave_the_web_answering(web, kind, held):
    stop = threading.Event()
    sockets, tricklers = [], []
    try:
        for _ in range(held):
            if kind == "headers a byte at a time":
                sock = _connect(web, b"")
                tricklers.append(threading.Thread(target=_trickle, args=(sock, stop), daemon=True))
                tricklers[-1].start()
            else:
                sock = SLOW_CLIENTS[kind](web)
            sockets.append(sock)
        time.sleep(0.5)  # every one of them is in the web's hands
        probes = _probe(web)
    finally:
        stop.set()
        for thread in tricklers:
            thread.join()
        for sock in sockets:
            sock.close()
    assert all(seconds is not None and seconds < QUICK_SECONDS for seconds in probes), probes


def test_an_unfinished_request_is_closed_after_the_header_timeout(web):
    sock = _connect(web, f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\n".encode())
    started = time.monotonic()
    try:
        sock.settimeout(HEADER_TIMEOUT + 10)
        assert sock.recv(4096) == b"", "closed without an answer"
    finally:
        sock.close()
    assert HEADER_TIMEOUT - 1 < time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_head_past_its_limit_is_refused_without_waiting_for_its_end(web):
    sock = _connect(web, f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\n".encode() + b"X-Big: " + b"a" * 70_000)
    try:
        sock.settimeout(5)
        answer = sock.recv(4096)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_a_client_that_waits_for_100_continue_gets_it_at_once(web):
    sock = _connect(
        web,
        f"POST /admin/login/ HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 20\r\nExpect: 100-continue\r\n\r\n".encode(),
    )
    try:
        sock.settimeout(QUICK_SECONDS)
        answer = sock.recv(4096)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 100 Continue"), answer
