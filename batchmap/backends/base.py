"""One Backend protocol for every place a map can run.

Commands never ask which backend they talk to: they submit, read counts and
children, read logs and abort through this protocol. ``aws_batch`` runs on
AWS Batch; ``local`` runs the same children as processes on this machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from batchmap.executions.model import ExecutionPlan, Manifest

# AWS Batch job statuses, in lifecycle order; the local backend uses the same words.
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
TERMINAL = ("SUCCEEDED", "FAILED")


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    log: str | None = None  # a log stream name (AWS) or a log file path (local)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "log": self.log,
        }


@dataclass(frozen=True)
class Child:
    index: int
    status: str
    attempts: Sequence[Attempt] = ()
    reason: str | None = None
    job_id: str | None = None

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def exit_code(self) -> int | None:
        return self.last.exit_code if self.last else None

    @property
    def started_at(self) -> dt.datetime | None:
        return self.attempts[0].started_at if self.attempts else None

    @property
    def stopped_at(self) -> dt.datetime | None:
        return self.last.stopped_at if self.last and self.status in TERMINAL else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "jobId": self.job_id,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "attempts": [a.to_dict() for a in self.attempts],
        }


@dataclass(frozen=True)
class ChildQuery:
    """Which children a view needs: non-succeeded first, at most ``limit``."""

    statuses: frozenset[str] = frozenset()
    indexes: frozenset[int] = frozenset()
    limit: int | None = 50


@dataclass(frozen=True)
class LogEvent:
    index: int
    attempt: int
    message: str
    timestamp: dt.datetime | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "attempt": self.attempt,
            "timestamp": self.timestamp,
            "message": self.message,
        }


@dataclass
class LogCursor:
    """Where a log reader is; opaque to commands, owned by the backend."""

    state: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def submit(
        self, plan: ExecutionPlan, manifest: Manifest, *, foreground: bool
    ) -> dict[str, Any]:
        """Start the execution; return what the manifest must record about it."""

    def counts(self, manifest: Manifest) -> Mapping[str, int]:
        """Children per status (every status of STATUSES present)."""

    def children(self, manifest: Manifest, query: ChildQuery) -> list[Child]:
        """The children a view asked for, non-succeeded first, then by index."""

    def counts_many(self, manifests: list[Manifest]) -> list[Mapping[str, int]]:
        """Counts of several executions at once (``get execution`` without a name)."""

    def logs(
        self,
        manifest: Manifest,
        query: ChildQuery,
        cursor: LogCursor,
        *,
        attempt: int | None = None,
        since: dt.datetime | None = None,
    ) -> list[LogEvent]:
        """Log events after ``cursor`` (which it advances), in order, without duplicates;
        with ``since``, none older than that."""

    def terminate(
        self, manifest: Manifest, reason: str, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Stop every child of the execution; return what was (or would be) stopped."""

    def cleanup(self, manifest: Manifest, counts: Mapping[str, int]) -> dict[str, Any] | None:
        """Best-effort clean-up once finished; what the manifest should record, if anything."""

    def on_interrupt(self, manifest: Manifest) -> str:
        """Ctrl-C during --wait: stop what this process owns; say what happens to the rest."""


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


def order_children(children: Iterable[Child], query: ChildQuery) -> list[Child]:
    """Filter by query, non-succeeded first (failed, then running/queued), then by index."""
    rank = {
        "FAILED": 0,
        "RUNNING": 1,
        "STARTING": 2,
        "RUNNABLE": 3,
        "PENDING": 4,
        "SUBMITTED": 5,
        "SUCCEEDED": 6,
    }
    chosen = [
        c
        for c in children
        if (not query.statuses or c.status in query.statuses)
        and (not query.indexes or c.index in query.indexes)
    ]
    chosen.sort(key=lambda c: (rank.get(c.status, 9), c.index))
    return chosen[: query.limit] if query.limit is not None else chosen


def index_map(manifest: Any) -> list[int] | None:
    """A relaunch's positions → original indexes (None for a first run)."""
    mapping = manifest.data.get("indexMap")
    return list(mapping) if mapping else None


def to_positions(manifest: Any, query: ChildQuery) -> ChildQuery:
    """A query by original indexes, as positions of this execution's arrays."""
    mapping = index_map(manifest)
    if not mapping or not query.indexes:
        return query
    where = {index: position for position, index in enumerate(mapping)}
    return ChildQuery(
        query.statuses, frozenset(where[i] for i in query.indexes if i in where), query.limit
    )


def to_original(manifest: Any, children: list[Child]) -> list[Child]:
    """Children labelled with their original indexes (a relaunch keeps them)."""
    mapping = index_map(manifest)
    if not mapping:
        return children
    from dataclasses import replace

    return [replace(c, index=mapping[c.index]) if c.index < len(mapping) else c for c in children]
