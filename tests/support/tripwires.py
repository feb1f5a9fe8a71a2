"""Paths and ports that note whether anything ever opened them: for "the parser opens no file or URL".

`FifoTripwire` is a named pipe. Opening it for reading blocks until a writer comes, so a second
thread keeps trying to open it for writing without blocking; that succeeds only while a reader
is there, which is how it notes one. With `hold=False` it lets the reader go at once (the reader
sees an empty file: an in-process test carries on); with `hold=True` it keeps the pipe open and
never writes, so the reader waits for ever, as on a worker's pipe that never gets data.

`PortTripwire` is a listening TCP socket on 127.0.0.1 that notes every connection made to it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
from pathlib import Path


class FifoTripwire:
    def __init__(self, path: Path, *, hold: bool = False) -> None:
        self.path = path
        self.hold = hold
        self.opened = threading.Event()
        self._held: list[int] = []
        self._stop = threading.Event()
        os.mkfifo(path)
        self._thread = threading.Thread(target=self._watch, name=f"tripwire {path.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: nobody has it open for reading
                    raise
                self._stop.wait(0.002)
                continue
            self.opened.set()
            if self.hold:  # one writer that never writes keeps this reader, and every later one, waiting
                self._held.append(fd)
                return
            os.close(fd)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for fd in self._held:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> FifoTripwire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PortTripwire:
    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dte.dtd"

    def connected(self) -> bool:
        return bool(select.select([self._socket], [], [], 0.05)[0])

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> PortTripwire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
