"""The Procfile's worker command (bin/dramatiq): Dramatiq's own command line, with three gaps closed.

Dramatiq's master reloads in place (SIGHUP: it stops its worker processes, then execs itself),
and a stop (the platform's SIGTERM, sent to every process at once) that lands near a reload or a
boot turned into a kill or was lost:
- after the exec, until the new image had put its handlers in place, SIGTERM's default action
  killed the master;
- a SIGTERM that arrived once the master had decided to reload was handled and forgotten: the
  new image ran on, until the platform killed it;
- a worker process that got the SIGTERM while it imported the actors, before GracefulStop was in
  place, took the master's forwarded copy as a second SIGTERM, "kill now".
Here the stop signals stay blocked from the first line until Dramatiq's handlers are in place
(a signal mask and a pending signal survive exec), a stop asked before the exec ends the master
instead, and a worker process filters repeated stops from the moment its handlers are in place.
Everything else is Dramatiq's: its arguments, its logs, its exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def main() -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    from dramatiq import cli

    from .middleware.graceful_stop import filter_repeated_stops

    master, script = os.getpid(), os.path.abspath(sys.argv[0])
    stop_asked = False
    unblock: Callable[[], None] = cli.try_unblock_signals

    def note_stops(handler: Callable[[int, FrameType | None], Any]) -> Callable[[int, FrameType | None], Any]:
        def noting(sig: int, frame: FrameType | None) -> None:
            nonlocal stop_asked
            stop_asked = stop_asked or sig != signal.SIGHUP
            handler(sig, frame)

        return noting

    def handlers_in_place() -> None:
        if os.getpid() == master:
            for sig in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(sig)
                if callable(handler):
                    signal.signal(sig, note_stops(handler))
        else:
            filter_repeated_stops()
        unblock()

    def reload(file: str, args: list[str]) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        if stop_asked:
            return cli.RET_OK
        os.execv(sys.executable, [sys.executable, script, *sys.argv[1:]])
        raise AssertionError("unreachable")

    cli.try_unblock_signals = handlers_in_place
    os.execvp = reload  # type: ignore[assignment]  # Dramatiq's master calls it only to reload
    result: int = cli.main()  # type: ignore[no-untyped-call]
    return result
