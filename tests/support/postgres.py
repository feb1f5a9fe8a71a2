"""A throw-away PostgreSQL server for tests: initdb in /tmp, trust auth on 127.0.0.1.

initdb refuses to run as root, so as root the server runs as the `postgres` system
user, from a folder under /tmp that user owns and can reach.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: The system user that owns the cluster when the tests run as root.
POSTGRES_USER = "postgres"
#: Seconds pg_ctl waits for the server to start or stop.
PG_CTL_TIMEOUT = 60


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl ($PG_BIN, PATH, /usr/lib/postgresql), or None."""
    candidates = [os.environ.get("PG_BIN", "")]
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in filter(None, candidates):
        if all(os.access(Path(folder) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgres:
    """A running throw-away cluster; made and cleaned up by `temporary_postgres()`."""

    def __init__(self, bin_dir: Path, base_dir: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "postgres.log"
        self.port = port
        self.as_postgres_user = os.geteuid() == 0

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name`; return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.as_postgres_user:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        # cwd: the postgres user may not be able to enter the caller's directory.
        result = subprocess.run(
            command,
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=PG_CTL_TIMEOUT + 30,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                f"\n{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _chown(self, *paths: Path) -> None:
        if self.as_postgres_user:
            for path in paths:
                shutil.chown(path, user=POSTGRES_USER, group=POSTGRES_USER)

    def start(self) -> None:
        self.data_dir.mkdir(mode=0o700)
        self._chown(self.base_dir, self.data_dir)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        # Only the socket of our tmp folder and 127.0.0.1: nothing on ::1 or other hosts.
        (self.data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", str(PG_CTL_TIMEOUT), "start"
        )

    def resume(self) -> None:
        """Start the server again after stop(), on the same data and port (a database outage ends)."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", str(PG_CTL_TIMEOUT), "start"
        )

    def stop(self) -> None:
        """Stop without a checkpoint: the data is thrown away anyway."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", str(PG_CTL_TIMEOUT), "stop")


@contextlib.contextmanager
def temporary_postgres() -> Iterator[TemporaryPostgres]:
    """Start a fresh PostgreSQL cluster on a free port; stop it and delete it on exit.

    Raises RuntimeError when the binaries (see find_pg_bin) or, as root, the
    `postgres` user are missing: callers that can do without skip on that.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; set PG_BIN")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            raise RuntimeError(f"running as root needs a {POSTGRES_USER!r} system user") from None
    # As root: under /tmp (not a root-only TMPDIR), 0o755 so the postgres user can enter.
    base_dir = Path(tempfile.mkdtemp(prefix="invoicemail-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    base_dir.chmod(0o755)
    server = TemporaryPostgres(bin_dir, base_dir, _free_port())
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)
