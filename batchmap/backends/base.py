"""One Backend protocol for every place a map can run.

Commands never ask which backend they talk to: they submit, read counts and
children, read logs and abort through this protocol. ``aws_batch`` runs on
AWS Batch; ``local`` runs the same children as processes on this machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from batchmap.executions.phase import RANK, TERMINAL

if TYPE_CHECKING:
    from batchmap.executions.manifest import Manifest, QueueChoice
    from batchmap.executions.plan import ExecutionPlan


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
class LogQuery(ChildQuery):
    """Which log lines: those of the children a ChildQuery selects (every child by
    default), of one attempt, since a time."""

    limit: int | None = None
    attempt: int | None = None
    since: dt.datetime | None = None


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


@dataclass(frozen=True)
class Snapshot:
    """One read of an execution: its counts and the children a view asked for, consistent
    with each other (on AWS Batch, from one DescribeJobs of the parents)."""

    counts: Mapping[str, int]
    children: list[Child]


@dataclass
class LogCursor:
    """Where a log reader is; opaque to commands, owned by the backend.

    A backend may pace a follow's reads (AWS: CloudWatch is read every few seconds, not
    every tick); ``final`` marks the last read of a follow, which reads whatever the pace.
    """

    state: dict[str, Any] = field(default_factory=dict)
    final: bool = False


@dataclass(frozen=True)
class BackendPlan:
    """A backend's part of an execution plan, decided with read-only calls only."""

    queue: QueueChoice | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # what --dryRun shows


@dataclass(frozen=True)
class Stopped:
    """What a termination stopped (or would stop)."""

    what: str  # e.g. "2 array jobs" or "the local supervisor (pid 123)"
    ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "ids": list(self.ids)}


class Backend(Protocol):
    name: str

    def plan(self, plan: ExecutionPlan) -> BackendPlan:
        """Checks and requests of a submission (read-only calls; no side effect)."""
        ...

    def submit(
        self, plan: ExecutionPlan, manifest: Manifest, *, foreground: bool
    ) -> dict[str, Any]:
        """Start the execution; return the backend's record for the manifest."""
        ...

    def recover(self, plan: ExecutionPlan, manifest: Manifest) -> dict[str, Any] | None:
        """A SUBMITTING manifest (a crash between steps): the record of what already
        started, never started twice; None when nothing did."""
        ...

    def counts(self, manifest: Manifest) -> Mapping[str, int]:
        """Children per status (every status of STATUSES present)."""
        ...

    def counts_many(self, manifests: list[Manifest]) -> list[Mapping[str, int]]:
        """Counts of several executions at once (``get execution`` without a name)."""
        ...

    def children(self, manifest: Manifest, query: ChildQuery) -> list[Child]:
        """The children a view asked for, non-succeeded first, then by index."""
        ...

    def snapshot(self, manifest: Manifest, query: ChildQuery) -> Snapshot:
        """``counts`` and ``children`` from one read (one refresh of a view): what a view
        showing both calls, so that it does not read the execution twice."""
        ...

    def statuses(self, manifest: Manifest, counts: Mapping[str, int]) -> list[str]:
        """Every child's status by position (the status grid), as cheaply as the backend
        can: ``counts`` (just read) says which statuses are worth listing."""
        ...

    def finished_at(self, manifest: Manifest) -> dt.datetime | None:
        """When the last child of a finished execution stopped (None if unknown)."""
        ...

    def links(self, manifest: Manifest) -> list[str]:
        """Where to see the whole execution (console links, a folder)."""
        ...

    def child_links(self, manifest: Manifest, child: Child) -> list[str]:
        """Where to see one child's logs."""
        ...

    def logs(
        self,
        manifest: Manifest,
        query: LogQuery,
        cursor: LogCursor,
    ) -> list[LogEvent]:
        """Log events after ``cursor`` (which it advances), in order, without duplicates;
        with ``query.since``, none older than that. Called again with the same cursor
        (a follow), it may return nothing until its pace allows a read, unless
        ``cursor.final``."""
        ...

    def terminate(
        self, manifest: Manifest, reason: str, *, dry_run: bool = False, wait: bool = True
    ) -> Stopped:
        """Stop every child of the execution; say what was (or would be) stopped. With
        ``wait``, a backend may insist (the local one escalates to SIGKILL)."""
        ...

    def cleanup(self, manifest: Manifest) -> dict[str, Any] | None:
        """Best-effort clean-up of a finished execution; what its record gains, if anything."""
        ...

    def join(self, manifest: Manifest, timeout: float | None = None) -> bool:
        """Wait for what this process runs of the execution (the local --wait thread), at
        most ``timeout`` seconds: True when it runs here (it may have ended meanwhile),
        False when nothing of it runs in this process (the caller waits its own way)."""
        ...

    def interrupt(self, manifest: Manifest) -> str:
        """Ctrl-C during --wait: stop what this process owns; say what happens to the rest."""
        ...


def order_children(children: Iterable[Child], query: ChildQuery) -> list[Child]:
    """Filter by query, non-succeeded first (failed, then running/queued), then by index."""
    chosen = [
        c
        for c in children
        if (not query.statuses or c.status in query.statuses)
        and (not query.indexes or c.index in query.indexes)
    ]
    chosen.sort(key=lambda c: (RANK.get(c.status, 9), c.index))
    return chosen[: query.limit] if query.limit is not None else chosen


def to_positions(manifest: Manifest, query: ChildQuery) -> ChildQuery:
    """A query by original indexes, as positions of this execution's arrays."""
    mapping = manifest.index_map
    if not mapping or not query.indexes:
        return query
    where = {index: position for position, index in enumerate(mapping)}
    return ChildQuery(
        query.statuses, frozenset(where[i] for i in query.indexes if i in where), query.limit
    )


def to_original(manifest: Manifest, children: list[Child]) -> list[Child]:
    """Children labelled with their original indexes (a relaunch keeps them)."""
    mapping = manifest.index_map
    if not mapping:
        return children
    return [replace(c, index=mapping[c.index]) if c.index < len(mapping) else c for c in children]
