"""Two independent reads at once: one round trip to AWS instead of two.

A command that needs two answers neither of which depends on the other (an execution's
record and its relaunch records; an array job and its children) asks for both
together: the second in a thread while the first runs in the caller's. botocore's
clients are safe to share between threads. On AWS a call is a round trip of tens of
milliseconds, so a `get execution` of a small map makes its four calls in two rounds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class Later(Generic[B]):
    """The second read's outcome: its value, or the exception it raised (kept, not raised,
    until someone asks for the value)."""

    def __init__(self, thread: threading.Thread, box: dict[str, Any]) -> None:
        self._thread = thread
        self._box = box

    def value(self) -> B:
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        value: B = self._box["value"]
        return value


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, Later[B]]:
    """``first()`` here and ``second()`` in a daemon thread, started first; returns the
    first's value and the second's outcome (``Later.value()`` waits, then gives it or
    raises its error). If ``first`` raises (Ctrl-C included), that is raised at once:
    the thread is a daemon and nobody waits for its call."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = second()
        except BaseException as exc:  # handed to whoever asks for the value
            box["error"] = exc

    thread = threading.Thread(target=run, name="batchmap-overlap", daemon=True)
    thread.start()
    return first(), Later(thread, box)
