"""Reading executions: manifests, phases, children, families, logs and outputs.

Everything here only reads (the lifecycle's writers — submit, wait, terminate — are in
``executions/lifecycle.py``, whose ``Executions`` extends this ``Reader``). A finished
execution's end time is read from its backend until a writer records it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from batchmap import times
from batchmap.backends.base import Backend, Child, ChildQuery, LogCursor, LogEvent, LogQuery
from batchmap.errors import BatchmapError, InvalidInputError, UsageError
from batchmap.executions import family as families
from batchmap.executions import manifest as manifests
from batchmap.executions import reasons
from batchmap.executions.family import Detail, Family, FamilyChild
from batchmap.executions.manifest import FINISHED, Manifest
from batchmap.executions.phase import Phase, finished, phase_of
from batchmap.executions.summary import FAILED_SHOWN, Summary, summarize
from batchmap.files.store import BlobStore
from batchmap.overlap import both
from batchmap.tasks import kind_of

POLL_SECONDS = 1.0
# How old a status grid may be before it is read again, per backend: on AWS a grid of
# 10,000 children costs a few ListJobs pages, which a 1 s refresh must not spend.
GRID_MAX_AGE = {"local": 0.0, "aws": 10.0}

BackendFactory = Callable[[str], Backend]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Listed:
    manifest: Manifest
    phase: Phase  # merged with its relaunches, for a root that has some
    relaunches: int = 0


@dataclass(frozen=True)
class Listing:
    """Executions of a project and domain, newest first, and the manifests that are broken."""

    executions: list[Listed]
    broken: list[BatchmapError]


class Reader:
    """What the commands that only read use: get, list, status, children, logs, outputs."""

    def __init__(
        self,
        store: BlobStore,
        backends: BackendFactory,
        *,
        clock: Callable[[], Any] = times.now,
    ) -> None:
        self.store = store
        self._backends = backends
        self._cache: dict[str, Backend] = {}
        self.clock = clock
        self.monotonic = time.monotonic
        # What a finished execution's children were never changes: read once.
        self._settled: dict[tuple[str, tuple[int, ...]], list[Child]] = {}
        self._grids: dict[str, tuple[float, tuple[int, ...], list[str]]] = {}

    def backend(self, name: str) -> Backend:
        if name not in ("local", "aws"):
            raise UsageError(f"--backend must be local or aws; got {name!r}")
        if name not in self._cache:
            self._cache[name] = self._backends(name)
        return self._cache[name]

    def get(self, project: str, domain: str, name: str) -> Manifest:
        """The manifest; a root's with every relaunch recorded under it (the two read at
        once: the records are listed by name, before the manifest says it is a root)."""
        manifest, records = both(
            lambda: manifests.load(self.store, project, domain, name),
            lambda: manifests.relaunch_records(self.store, f"{project}/{domain}/{name}"),
        )
        if manifest.relaunch:
            return manifest  # a relaunch has none of its own: the listing is not needed
        return manifest.replace(relaunches=manifests.with_relaunches(manifest, records.value()))

    def list(self, project: str, domain: str) -> Listing:
        """Every execution with its phase (a root's merged with its relaunches): one
        backend call per 100 array jobs, plus a few for roots that were relaunched.
        Reading never writes: a finished execution's end is read from the backend
        until a writer (a wait, a termination) records it."""
        found, damaged = manifests.list_all(self.store, project, domain)
        broken: list[BatchmapError] = list(damaged)
        counts: dict[str, Any] = {}
        for name in sorted({m.backend for m in found}):
            group = [m for m in found if m.backend == name]
            try:
                many = self.backend(name).counts_many(group)
            except InvalidInputError:  # one damaged record: ask one by one, skip the damaged
                many = [self._counts_or(broken, m) for m in group]
            for m, c in zip(group, many, strict=True):
                counts[m.name] = c
        listed = []
        for m in found:
            if counts[m.name] is None:  # damaged: named in ``broken``
                continue
            if finished(counts[m.name], m.size):
                m = self.ended(m)
            phase = self._phase(m, counts[m.name])
            relaunches = len(m.relaunches) if not m.relaunch else 0
            if relaunches:
                phase = self.family(m).phase
            listed.append(Listed(m, phase, relaunches))
        return Listing(listed, broken)

    def _counts_or(self, broken: list[BatchmapError], manifest: Manifest) -> Any:
        try:
            return self.backend(manifest.backend).counts(manifest)
        except InvalidInputError as exc:
            broken.append(exc)
            return None

    @staticmethod
    def _phase(manifest: Manifest, counts: Any) -> Phase:
        return phase_of(
            counts, manifest.size, manifest.min_successes, aborted=manifest.terminated is not None
        )

    phase_from = _phase

    def status(self, manifest: Manifest) -> Phase:
        return self._phase(manifest, self.backend(manifest.backend).counts(manifest))

    def children(self, manifest: Manifest, query: ChildQuery) -> list[Child]:
        found = self.backend(manifest.backend).children(manifest, query)
        return reasons.explain(
            manifest, kind_of(manifest.launch_plan).explain(self.store, manifest, found)
        )

    def snapshot(self, manifest: Manifest, query: ChildQuery) -> tuple[Phase, list[Child]]:
        """The phase and the children ``query`` asks for, from one read of the execution:
        what a view showing both uses (``status`` then ``children`` read it twice)."""
        read = self.backend(manifest.backend).snapshot(manifest, query)
        found = kind_of(manifest.launch_plan).explain(self.store, manifest, read.children)
        return self._phase(manifest, read.counts), reasons.explain(manifest, found)

    # -- families: a root and its relaunches ----------------------------------------------
    def root_of(self, manifest: Manifest) -> Manifest:
        if not manifest.relaunch:
            return manifest
        return self.get(manifest.project, manifest.domain, manifest.root)

    def relaunches(self, root: Manifest) -> list[Manifest]:
        """A root's relaunches, oldest first. The one place that reads where they are
        recorded (a missing one, e.g. deleted by hand, is skipped)."""
        found = []
        for name in root.relaunches:
            try:
                found.append(self.get(root.project, root.domain, name))
            except BatchmapError:
                continue
        return sorted(found, key=lambda m: m.created_at)

    def family(self, manifest: Manifest) -> Family:
        """The root of ``manifest``, its relaunches and their merged phase."""
        return families.read(self, manifest)

    def family_children(self, family: Family, query: ChildQuery) -> list[FamilyChild]:
        """For each original index, the latest attempt (the newest relaunch's child)."""
        return families.children(self, family, query)

    def children_at(self, manifest: Manifest, indexes: list[int], settled: bool) -> list[Child]:
        """The children at these original indexes; read once when the execution ended."""
        if not indexes:
            return []
        key = (manifest.prefix, tuple(indexes))
        if key in self._settled:
            return self._settled[key]
        found = self.children(manifest, ChildQuery(indexes=frozenset(indexes), limit=None))
        if settled:
            self._settled[key] = found
        return found

    def statuses(self, manifest: Manifest) -> list[str]:
        """Every child's status by position (for the grid), re-read only when the counts
        changed and the last read is older than the backend's GRID_MAX_AGE."""
        backend = self.backend(manifest.backend)
        now = self.monotonic()
        cached = self._grids.get(manifest.prefix)
        if cached and now - cached[0] < GRID_MAX_AGE.get(manifest.backend, 0.0):
            return list(cached[2])
        counts = backend.counts(manifest)
        key = tuple(int(counts.get(s, 0)) for s in sorted(counts))
        if cached and cached[1] == key:
            return list(cached[2])
        cells = list(backend.statuses(manifest, counts))
        self._grids[manifest.prefix] = (now, key, cells)
        return list(cells)

    def grid(self, family: Family) -> list[str]:
        """Every original index's latest status across the family."""
        return families.grid(self, family)

    def detail(self, manifest: Manifest, query: ChildQuery) -> Detail:
        """What `get execution NAME` shows (reading never writes)."""
        return families.detail(self, manifest, query)

    def summary(self, manifest: Manifest, limit: int = FAILED_SHOWN) -> Summary:
        """What the end of a wait reports (the failed children, the ratio, wall time)."""
        return summarize(self, manifest, limit)

    def links(self, manifest: Manifest) -> list[str]:
        return self.backend(manifest.backend).links(manifest)

    def child_links(self, manifest: Manifest, child: Child) -> list[str]:
        return self.backend(manifest.backend).child_links(manifest, child)

    def logs(self, manifest: Manifest, query: LogQuery, cursor: LogCursor) -> list[LogEvent]:
        return self.backend(manifest.backend).logs(manifest, query, cursor)

    def follow(
        self,
        manifest: Manifest,
        query: LogQuery,
        *,
        sleep: Sleep = time.sleep,
        poll: float = POLL_SECONDS,
    ) -> Iterator[tuple[Phase, list[LogEvent]]]:
        """(phase, new log events) until the execution ends; the events of each tick are
        read after its phase, so nothing written before the end is missed."""
        cursor = LogCursor()
        while True:
            phase = self.status(manifest)
            cursor.final = phase.done  # the last read reads, whatever the backend's pace
            yield phase, self.logs(manifest, query, cursor)
            if phase.done:
                return
            sleep(poll)

    def outputs(self, manifest: Manifest) -> tuple[list[Any], list[str | None]]:
        from batchmap.executions.outputs import gather

        root = self.root_of(manifest)
        return gather(self.store, [root, *self.relaunches(root)])

    def ended(self, manifest: Manifest) -> Manifest:
        """A finished execution as views show it: FINISHED, with its end time (read from
        the backend when no writer recorded it yet; nothing is written)."""
        if manifest.state == FINISHED:
            return manifest
        ended = self.backend(manifest.backend).finished_at(manifest)
        return manifest.replace(state=FINISHED, finished_at=ended or manifest.finished_at)
