"""Drawing on request in the web: one request at a time per thing drawn, and a budget of drawings at once."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

from pipeline import config

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


class NoDrawingSlot(Exception):
    """Every slot of this process's drawing budget stayed taken for the whole wait."""


#: How long a request waits for a free slot before it answers "try again later".
DRAWING_SLOT_WAIT_SECONDS = 10.0
_drawing_slots: threading.BoundedSemaphore | None = None
_drawing_slots_guard = threading.Lock()


def _slots() -> threading.BoundedSemaphore:
    global _drawing_slots
    with _drawing_slots_guard:
        if _drawing_slots is None:
            _drawing_slots = threading.BoundedSemaphore(max(1, config.get("WEB_THREADS") - 1))
        return _drawing_slots


@contextmanager
def drawing_slot() -> Iterator[None]:
    """Hold one of the process's WEB_THREADS - 1 drawing slots while a first request draws in the sandbox.

    A sender's PDF may take the sandbox's whole CPU or wall limit to draw (20 s, 30 s): without a budget,
    a page of such files would hold every web thread, and the pages and the health check with them.
    With it one thread is always left to serve them; a drawing that finds no slot within
    DRAWING_SLOT_WAIT_SECONDS raises NoDrawingSlot (the view answers 503, nothing is recorded).
    """
    slots = _slots()
    if not slots.acquire(timeout=DRAWING_SLOT_WAIT_SECONDS):
        raise NoDrawingSlot(f"every drawing slot stayed busy for {DRAWING_SLOT_WAIT_SECONDS:g} s")
    try:
        yield
    finally:
        slots.release()
