"""What the end of a wait reports: enough for a person, or a CI log, to act on.

The failed children (index, attempts, exit code, a one-line reason; the first
``FAILED_SHOWN``, then a count), the successes against the minimum, the wall
time, and the relaunches that took part in the merged result. The commands to
run next are the view's (they depend on how batchmap was called).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchmap import times
from batchmap.backends.base import ChildQuery
from batchmap.executions.family import Family, FamilyChild
from batchmap.executions.manifest import Manifest
from batchmap.executions.phase import Phase

if TYPE_CHECKING:
    from batchmap.executions.lifecycle import Executions

FAILED_SHOWN = 20
REASON_CHARS = 300


def last_line(text: str | None) -> str | None:
    """A reason as a table shows it: its last non-empty line. flytekit's ``error.pb`` holds
    a whole traceback, whose last line is the exception; ``-o json`` and ``logs`` keep the
    whole text."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 else text


def one_line(text: str | None, limit: int = REASON_CHARS) -> str:
    """A reason on one line: its last line, whitespace folded, at most ``limit`` characters."""
    line = " ".join((last_line(text) or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class FailedChild:
    index: int
    attempts: int
    exit_code: int | None
    reason: str
    execution: str

    @classmethod
    def of(cls, item: FamilyChild) -> FailedChild:
        child = item.child
        return cls(
            child.index,
            len(child.attempts),
            child.exit_code,
            one_line(child.reason) or "no reason given",
            item.execution.name,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "attempts": self.attempts,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "execution": self.execution,
        }


@dataclass(frozen=True)
class Summary:
    execution: Manifest  # the one waited on
    family: Family
    own: Phase  # the waited execution's own phase
    failed: tuple[FailedChild, ...]  # the first FAILED_SHOWN
    started_at: dt.datetime
    ended_at: dt.datetime

    @property
    def phase(self) -> Phase:
        """The result that counts: merged over the relaunches of the root."""
        return self.family.phase

    @property
    def verdict(self) -> Phase:
        """What a wait's exit code judges: the merged result once it is known; while other
        relaunches of the root still run, the waited execution's own (its part is done,
        and the others' commands judge the rest)."""
        return self.phase if self.phase.done else self.own

    @property
    def root(self) -> Manifest:
        return self.family.root

    @property
    def ratio(self) -> float:
        return self.root.launch_plan.map.min_success_ratio

    @property
    def wall_seconds(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def more_failed(self) -> int:
        return max(0, self.phase.failed - len(self.failed))

    def to_dict(self) -> dict[str, Any]:
        phase = self.phase
        return {
            "execution": self.execution.name,
            "root": self.root.name,
            "status": phase.to_dict(),
            "ownStatus": self.own.to_dict(),
            "minSuccessRatio": self.ratio,
            "failed": [f.to_dict() for f in self.failed],
            "moreFailed": self.more_failed,
            "startedAt": times.iso(self.started_at),
            "endedAt": times.iso(self.ended_at),
            "wallSeconds": round(self.wall_seconds, 3),
            "relaunches": [m.to_dict() for m in self.family.relaunches],
        }


def summarize(executions: Executions, manifest: Manifest, limit: int = FAILED_SHOWN) -> Summary:
    """The summary of ``manifest`` once its wait ended: merged over its root's family."""
    family = executions.family(manifest)
    own = family.member(manifest.name).phase
    failed = executions.family_children(
        family, ChildQuery(statuses=frozenset({"FAILED"}), limit=limit)
    )
    current = executions.get(manifest.project, manifest.domain, manifest.name)
    ended = current.finished_at or executions.clock()
    return Summary(
        manifest,
        family,
        own,
        tuple(FailedChild.of(f) for f in failed),
        manifest.created_at,
        ended,
    )
