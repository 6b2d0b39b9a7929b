"""Two independent reads at once (batchmap/overlap.py)."""

from __future__ import annotations

import threading

import pytest

from batchmap.overlap import both


def test_both_values_and_the_second_runs_in_another_thread() -> None:
    where: list[str] = []
    first, later = both(lambda: 1, lambda: where.append(threading.current_thread().name) or 2)
    assert (first, later.value()) == (1, 2)
    assert where == ["batchmap-overlap"]


def test_the_seconds_error_is_raised_by_value_only() -> None:
    def fail() -> int:
        raise LookupError("second")

    first, later = both(lambda: "ok", fail)
    assert first == "ok"
    with pytest.raises(LookupError, match="second"):
        later.value()


def test_the_firsts_error_does_not_wait_for_the_second() -> None:
    release = threading.Event()

    def first() -> None:
        raise KeyboardInterrupt  # Ctrl-C while the second call hangs

    def second() -> str:
        release.wait(10)
        return "late"

    with pytest.raises(KeyboardInterrupt):
        both(first, second)
    assert not release.is_set()  # raised while the second was still waiting
    release.set()
