"""An execution's phase from its children's counts: Flyte's rule, in one place.

AWS Batch job statuses (and the local backend's, which uses the same words) are
counted per execution; ``phase_of`` turns the counts into RUNNING, SUCCEEDED or
FAILED the way FlytePropeller's ``SummaryToPhase`` does, and ABORTED when the
execution was terminated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# AWS Batch job statuses, in lifecycle order; the local backend uses the same words.
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
# How views order children: what needs attention first.
RANK = {
    "FAILED": 0,
    "RUNNING": 1,
    "STARTING": 2,
    "RUNNABLE": 3,
    "PENDING": 4,
    "SUBMITTED": 5,
    "SUCCEEDED": 6,
}
PHASES = ("RUNNING", "SUCCEEDED", "FAILED", "ABORTED")
# The reasons an abort records (manifest, children, views): a user's `--reason` replaces
# the first; the second is Ctrl-C (or SIGTERM, which batchmap treats alike) of a command
# that ran the children itself.
ABORT_REASON = "aborted with batchmap delete execution"
INTERRUPTED_REASON = (
    "aborted: the command that ran the children was interrupted (Ctrl-C or SIGTERM)"
)


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


def finished(counts: Mapping[str, int], size: int) -> bool:
    """Every child is terminal."""
    return sum(counts.get(s, 0) for s in TERMINAL) >= size


@dataclass(frozen=True)
class Phase:
    phase: str  # RUNNING | SUCCEEDED | FAILED | ABORTED
    succeeded: int
    failed: int
    running: int
    queued: int
    size: int
    min_successes: int

    @property
    def done(self) -> bool:
        return self.phase != "RUNNING"

    @property
    def ok(self) -> bool:
        return self.phase == "SUCCEEDED"

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "queued": self.queued,
            "total": self.size,
            "minSuccesses": self.min_successes,
        }

    def describe(self) -> str:
        return (
            f"{self.phase}: {self.succeeded} succeeded, {self.failed} failed, "
            f"{self.running} running, {self.queued} queued of {self.size} "
            f"(needs {self.min_successes})"
        )


def phase_of(counts: Mapping[str, int], size: int, needed: int, *, aborted: bool = False) -> Phase:
    """Flyte's SummaryToPhase: fail as soon as the minimum can no longer be met,
    succeed only when every child is terminal and the minimum is met. A terminated
    execution is ABORTED from the moment it was asked to stop (it can no longer succeed;
    its counts say which children are still stopping)."""
    succeeded, failed = counts.get("SUCCEEDED", 0), counts.get("FAILED", 0)
    running = counts.get("RUNNING", 0) + counts.get("STARTING", 0)
    queued = max(size - succeeded - failed - running, 0)
    if size - failed < needed:
        phase = "FAILED"
    elif succeeded + failed >= size:
        phase = "SUCCEEDED" if succeeded >= needed else "FAILED"
    else:
        phase = "RUNNING"
    if aborted:
        phase = "ABORTED"
    return Phase(phase, succeeded, failed, running, queued, size, needed)


def remaining_seconds(phase: Phase, elapsed: float) -> float | None:
    """A plain estimate of the time left: the rate so far (children ended per second of
    the execution's life) applied to the children not ended; None before the first end."""
    ended = phase.succeeded + phase.failed
    if phase.done:
        return 0.0
    if ended <= 0 or elapsed <= 0:
        return None
    return elapsed * (phase.size - ended) / ended
