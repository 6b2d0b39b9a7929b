"""Children's reasons people can act on, the same on every backend.

A child waiting for its next attempt says so, rather than showing its last
attempt's failure next to a queued status; every child an abort stopped carries
the one reason the manifest's termination recorded (AWS Batch and the local
supervisor word their own stops differently).
"""

from __future__ import annotations

from dataclasses import replace

from batchmap.backends.base import Child
from batchmap.executions.manifest import Manifest, Termination
from batchmap.executions.phase import TERMINAL


def explain(manifest: Manifest, children: list[Child]) -> list[Child]:
    attempts = manifest.launch_plan.task.retries + 1
    stop = manifest.terminated
    out = []
    for c in children:
        last = c.last
        stuck = (c.reason or "").startswith("stuck in RUNNABLE")  # the backend's diagnosis
        if c.status not in TERMINAL and last and last.stopped_at and not stuck:
            failure = last.reason or (
                f"exited with code {last.exit_code}" if last.exit_code is not None else "it ended"
            )
            c = replace(
                c,
                reason=f"waiting to retry: attempt {len(c.attempts) + 1} of {attempts} "
                f"(attempt {last.number}: {failure})",
            )
        elif stop is not None and c.status == "FAILED" and stopped_by(c, stop):
            c = replace(c, reason=stop.reason)
        out.append(c)
    return out


def stopped_by(child: Child, stop: Termination) -> bool:
    """Whether an abort stopped this child: it never started, its reason is the abort's
    (AWS Batch keeps TerminateJob's reason), or its last attempt ended after the abort
    was asked."""
    last = child.last
    return (
        last is None
        or last.started_at is None
        or stop.reason in (child.reason or "")
        or (last.stopped_at is not None and last.stopped_at >= stop.at)
    )
