"""One request at a time per thing drawn on request, in this process: a second waits and finds the first's result."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

_turns: dict[Hashable, list] = {}  # key -> [lock, how many requests hold or wait for it]
_turns_guard = threading.Lock()


@contextmanager
def turn(key: Hashable) -> Iterator[None]:
    """Hold `key`'s turn: other threads asking for the same key wait; the lock goes once nobody holds or waits."""
    with _turns_guard:
        entry = _turns.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _turns_guard:
            entry[1] -= 1
            if not entry[1]:
                del _turns[key]
