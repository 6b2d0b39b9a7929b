"""The lifecycle of executions: the one ordered place for their side effects.

``plan`` reads and checks everything and changes nothing (``--dryRun`` prints
its result). ``submit`` then stages the inputs, writes the manifest as
SUBMITTING, starts the children through the backend and records them as
SUBMITTED, in that order. Re-running with the same name never submits twice: a
SUBMITTED manifest is refused, a SUBMITTING one (a crash between steps) is
completed by the backend's ``recover``. ``wait`` and ``terminate`` are the only
other writers (the backend's clean-up once an execution ends, the termination
record); status, children, logs and outputs only read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from batchmap import times
from batchmap.backends.base import (
    Backend,
    Child,
    ChildQuery,
    LogCursor,
    LogEvent,
    LogQuery,
    Stopped,
)
from batchmap.errors import (
    BatchmapError,
    BelowSuccessRatioError,
    InvalidInputError,
    UsageError,
)
from batchmap.executions import blobs, reasons
from batchmap.executions import family as families
from batchmap.executions import manifest as manifests
from batchmap.executions.family import Detail, Family, FamilyChild
from batchmap.executions.items import S3Getter, describe_sources
from batchmap.executions.lock import ExecutionLock
from batchmap.executions.manifest import (
    FINISHED,
    INTERRUPTED_REASON,
    SUBMITTED,
    SUBMITTING,
    Manifest,
    QueueChoice,
    Relaunch,
    Termination,
)
from batchmap.executions.phase import Phase, finished, phase_of
from batchmap.executions.plan import (
    ExecutionPlan,
    ExecutionRequest,
    check_name,
    draft,
    generate_name,
)
from batchmap.executions.summary import FAILED_SHOWN, Summary, summarize
from batchmap.files.store import AlreadyExists, BlobStore
from batchmap.launchplans.registry import Registry
from batchmap.tasks import kind_of
from batchmap.tasks.base import Target

POLL_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 600.0
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


@dataclass(frozen=True)
class Terminated:
    """What ``terminate`` did."""

    manifest: Manifest
    already_finished: bool
    stopped: Stopped | None
    phase: Phase
    dry_run: bool = False
    before: Mapping[str, int] = field(default_factory=dict)  # counts when asked

    @property
    def running(self) -> int:
        """Children that were running when the termination was asked."""
        return sum(int(self.before.get(s, 0)) for s in ("STARTING", "RUNNING"))

    @property
    def queued(self) -> int:
        """Children that had not started (they are cancelled)."""
        return sum(int(self.before.get(s, 0)) for s in ("SUBMITTED", "PENDING", "RUNNABLE"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution": self.manifest.name,
            "alreadyFinished": self.already_finished,
            "stopped": self.stopped.to_dict() if self.stopped else None,
            "dryRun": self.dry_run,
            "reason": self.manifest.terminated.reason if self.manifest.terminated else None,
            "stoppedRunning": self.running,
            "cancelledQueued": self.queued,
            "status": self.phase.to_dict(),
        }


def require_success(phase: Phase) -> Phase:
    """The phase of a finished execution, or BelowSuccessRatioError (exit 7)."""
    if not phase.ok:
        raise BelowSuccessRatioError(
            f"execution {phase.phase.lower()}: {phase.succeeded} of {phase.size} children "
            f"succeeded, {phase.min_successes} needed ({phase.failed} failed)"
        )
    return phase


class Executions:
    """Plan, submit, watch, stop and relaunch executions (docs/api.md)."""

    def __init__(
        self,
        store: BlobStore,
        registry: Registry,
        backends: BackendFactory,
        *,
        default_backend: str = "local",
        default_role: str | None = None,
        clock: Callable[[], Any] = times.now,
        s3: S3Getter | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self._backends = backends
        self._cache: dict[str, Backend] = {}
        self.default_backend = default_backend
        self.default_role = default_role
        self.clock = clock
        self.s3 = s3  # the S3 client for items read from S3, made only when needed
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

    # -- planning (no side effects) ------------------------------------------------------
    def plan(self, request: ExecutionRequest) -> ExecutionPlan:
        """Everything a submission will do, checked against the exec file, the launch plan,
        the task kind and the backend (read-only AWS calls only)."""
        first = draft(
            request,
            self.registry,
            backend=request.backend or self.default_backend,
            default_role=self.default_role,
            s3=self.s3,
        )
        return self._complete(first)

    def complete(self, plan: ExecutionPlan) -> ExecutionPlan:
        """Complete a plan drafted elsewhere (``batchmap run``'s ad-hoc launch plan) with the
        task kind's child and the backend's part, as ``plan`` does."""
        return self._complete(plan)

    def _complete(self, plan: ExecutionPlan) -> ExecutionPlan:
        kind = kind_of(plan.launch_plan)
        backend = self.backend(plan.backend)
        if plan.backend != "local" and not plan.relaunch:
            # Local files and folders go where the children can read them: their storage
            # URIs are decided now (--dryRun shows them), the copies made at submit.
            types = {name: spec.type for name, spec in plan.launch_plan.inputs.items()}
            values, uploads = blobs.remote(types, plan.values, plan.prefix, self.store.uri)
            plan = replace(plan, values=values, uploads=tuple(uploads))
        if plan.child is None:
            target = Target(plan.name, plan.project, plan.domain, self.store.location(plan.prefix))
            plan = replace(plan, child=kind.child(plan.launch_plan, plan.values, target))
        part = backend.plan(plan)
        return replace(
            plan,
            backend_plan=part,
            notes=(*kind.notes(plan.launch_plan, backend.name), *part.notes),
            warnings=(*plan.warnings, *part.warnings),
        )

    # -- submission ----------------------------------------------------------------------
    def submit(self, plan: ExecutionPlan, *, foreground: bool = False) -> Manifest:
        """Stage, record, submit, record: the only path from a plan to running children.

        Under the execution's lock (executions/lock.py): a second creator of the same
        name at the same time is refused (exit 3) and names the one at work."""
        assert plan.child is not None and plan.backend_plan is not None, "plan() first"
        kind_of(plan.launch_plan).check_backend(plan.launch_plan, plan.backend)
        what = f"execution {plan.name!r} in {plan.project}/{plan.domain}"
        with ExecutionLock(self.store, plan.prefix, what) as lock:
            return self._submit(plan, lock, foreground=foreground)

    def _submit(self, plan: ExecutionPlan, lock: ExecutionLock, *, foreground: bool) -> Manifest:
        assert plan.child is not None and plan.backend_plan is not None
        backend = self.backend(plan.backend)
        key = manifests.key(plan.prefix)
        existing = self.store.get(key)
        if existing is not None:
            manifest = manifests.decode(existing, self.store.uri(key))
            if manifest.state != SUBMITTING:
                raise InvalidInputError(
                    f"execution {plan.name!r} exists in {plan.project}/{plan.domain}",
                    hint=f"see it with 'batchmap get execution -p {plan.project} -d "
                    f"{plan.domain} {plan.name}', or pick another name",
                )
            lock.check()
            recovered = backend.recover(plan, manifest)
            if recovered is not None:  # submitted before the crash: record it, never resubmit
                manifest = manifest.replace(
                    run=recovered, state=SUBMITTED, submitted_at=self.clock()
                )
                manifests.save(self.store, manifest)
                manifests.record_relaunch(self.store, manifest)
                return manifest
        kind = kind_of(plan.launch_plan)
        if plan.relaunch:
            root = self.get(plan.project, plan.domain, plan.relaunch.root)
            staged = kind.stage_relaunch(self.store, plan.prefix, root, plan.relaunch.indexes)
        else:
            blobs.upload(self.store, list(plan.uploads))
            staged = kind.stage(self.store, plan.prefix, plan.launch_plan, plan.values)
        manifest = Manifest(
            name=plan.name,
            project=plan.project,
            domain=plan.domain,
            launch_plan=plan.launch_plan,
            backend=plan.backend,
            size=plan.size,
            child=plan.child,
            inputs_uri=staged.inputs_uri,
            output_prefix=self.store.uri(f"{plan.prefix}/outputs"),
            created_at=self.clock(),
            state=SUBMITTING,
            envs=dict(plan.envs),
            iam_role_arn=plan.iam_role_arn,
            kube_service_account=plan.kube_service_account,
            queue=plan.queue,
            relaunch=plan.relaunch,
            item_sources=describe_sources(plan.values),
        )
        if existing is None:
            try:
                self.store.put(key, manifests.encode(manifest), exclusive=True)
            except AlreadyExists:
                # Ours, when the answer of the first try was lost and botocore's retry found it.
                if self.store.get(key) != manifests.encode(manifest):
                    raise InvalidInputError(
                        f"execution {plan.name!r} was created concurrently in "
                        f"{plan.project}/{plan.domain}"
                    ) from None
        else:
            manifests.save(self.store, manifest)
        manifests.record_relaunch(self.store, manifest)
        lock.check()
        run = backend.submit(plan, manifest, foreground=foreground)
        manifest = manifest.replace(run=run, state=SUBMITTED, submitted_at=self.clock())
        manifests.save(self.store, manifest)
        return manifest

    # -- reading -------------------------------------------------------------------------
    def get(self, project: str, domain: str, name: str) -> Manifest:
        """The manifest; a root's with every relaunch recorded under it."""
        manifest = manifests.load(self.store, project, domain, name)
        if manifest.relaunch:
            return manifest
        return manifest.replace(relaunches=manifests.relaunches_of(self.store, manifest))

    def list(self, project: str, domain: str) -> Listing:
        """Every execution with its phase (a root's merged with its relaunches): one
        backend call per 100 array jobs, plus a few for roots that were relaunched.
        Reading never writes: a finished execution's end is read from the backend
        until a writer (a wait, a termination) records it."""
        found, broken = manifests.list_all(self.store, project, domain)
        counts: dict[str, Any] = {}
        for name in sorted({m.backend for m in found}):
            group = [m for m in found if m.backend == name]
            for m, c in zip(group, self.backend(name).counts_many(group), strict=True):
                counts[m.name] = c
        listed = []
        for m in found:
            if finished(counts[m.name], m.size):
                m = self.ended(m)
            phase = self._phase(m, counts[m.name])
            relaunches = len(m.relaunches) if not m.relaunch else 0
            if relaunches:
                phase = self.family(m).phase
            listed.append(Listed(m, phase, relaunches))
        return Listing(listed, list(broken))

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
            yield phase, self.logs(manifest, query, cursor)
            if phase.done:
                return
            sleep(poll)

    def outputs(self, manifest: Manifest) -> tuple[list[Any], list[str | None]]:
        from batchmap.executions.outputs import gather

        root = self.root_of(manifest)
        return gather(self.store, [root, *self.relaunches(root)])

    # -- waiting and stopping ------------------------------------------------------------
    def wait(
        self,
        manifest: Manifest,
        *,
        on_progress: Callable[[Phase], None] | None = None,
        sleep: Sleep = time.sleep,
        poll: float = POLL_SECONDS,
    ) -> Phase:
        """Poll until the execution ends (``on_progress`` sees every phase read), let the
        backend clean up, and return the final phase (whatever it is)."""
        while True:
            phase = self.status(manifest)
            if on_progress is not None:
                on_progress(phase)
            if phase.done and (phase.phase != "ABORTED" or self._stopped(manifest)):
                break
            sleep(poll)
        backend = self.backend(manifest.backend)
        backend.join(manifest)
        self._settle(manifest)
        return phase

    def _stopped(self, manifest: Manifest) -> bool:
        return finished(self.backend(manifest.backend).counts(manifest), manifest.size)

    def _settle(self, manifest: Manifest) -> Manifest:
        """A finished execution: the backend's clean-up and the end time, recorded (best
        effort: a failure never fails the command)."""
        try:
            current = self.get(manifest.project, manifest.domain, manifest.name)
            if current.state == FINISHED:
                return current
            backend = self.backend(manifest.backend)
            done = backend.cleanup(current) or {}
            ended = backend.finished_at(current) or self.clock()
            current = current.replace(
                run={**current.run, **done}, state=FINISHED, finished_at=ended
            )
            manifests.save(self.store, current)
            return current
        except BatchmapError:
            return manifest

    def ended(self, manifest: Manifest) -> Manifest:
        """A finished execution as views show it: FINISHED, with its end time (read from
        the backend when no writer recorded it yet; nothing is written)."""
        if manifest.state == FINISHED:
            return manifest
        ended = self.backend(manifest.backend).finished_at(manifest)
        return manifest.replace(state=FINISHED, finished_at=ended or manifest.finished_at)

    def interrupt(self, manifest: Manifest) -> str:
        """Ctrl-C during a wait: stop what this process runs; say what happens to the rest.
        When that stopped the execution's children, it is recorded as aborted."""
        backend = self.backend(manifest.backend)
        running = not finished(backend.counts(manifest), manifest.size)
        said = backend.interrupt(manifest)
        if running and finished(backend.counts(manifest), manifest.size):
            try:
                current = self.get(manifest.project, manifest.domain, manifest.name)
                stop = Termination(self.clock(), INTERRUPTED_REASON)
                manifests.save(self.store, current.replace(terminated=stop))
            except BatchmapError:
                pass
        return said

    def terminate(
        self,
        manifest: Manifest,
        reason: str,
        *,
        wait: bool = True,
        dry_run: bool = False,
        sleep: Sleep = time.sleep,
        poll: float = 2.0,
        timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> Terminated:
        """Stop every child not yet finished; record the termination (the phase becomes
        ABORTED); with ``wait``, until every child has stopped."""
        backend = self.backend(manifest.backend)
        counts = counts_before = backend.counts(manifest)
        if finished(counts, manifest.size):
            return Terminated(
                manifest, True, None, self._phase(manifest, counts), dry_run, counts_before
            )
        at = self.clock()
        stopped = backend.terminate(manifest, reason, dry_run=dry_run)
        if dry_run:
            return Terminated(
                manifest, False, stopped, self._phase(manifest, counts), True, counts_before
            )
        manifest = manifest.replace(terminated=Termination(at, reason))
        manifests.save(self.store, manifest)
        waited = 0.0
        while wait and not finished(counts, manifest.size) and waited < timeout:
            sleep(poll)
            waited += poll
            counts = backend.counts(manifest)
        if finished(counts, manifest.size):
            manifest = self._settle(manifest)
        return Terminated(
            manifest, False, stopped, self._phase(manifest, counts), before=counts_before
        )

    # -- relaunching ---------------------------------------------------------------------
    def relaunch_indexes(
        self, manifest: Manifest, *, failed: bool, indexes: Iterable[int]
    ) -> list[int]:
        """Original indexes to re-run: the failed children and/or the given ones."""
        problem = kind_of(manifest.launch_plan).relaunch_problem()
        if problem:
            raise InvalidInputError(
                problem, hint="re-run the whole execution with create execution"
            )
        chosen = set(indexes)
        allowed = set(manifest.indexes)
        outside = sorted(chosen - allowed)
        if outside:
            raise UsageError(
                f"--index {outside[0]} is not a child of execution {manifest.name!r}"
                + (
                    " (a relaunch holds only the indexes it re-ran)"
                    if manifest.relaunch
                    else f" (0-{manifest.size - 1})"
                )
            )
        if failed:  # a root's failed children are those of the merged result
            query = ChildQuery(statuses=frozenset({"FAILED"}), limit=None)
            if manifest.relaunch or not manifest.relaunches:
                chosen.update(child.index for child in self.children(manifest, query))
            else:
                merged = self.family_children(self.family(manifest), query)
                chosen.update(item.child.index for item in merged)
        return sorted(chosen)

    def plan_relaunch(
        self, manifest: Manifest, indexes: list[int], name: str | None = None
    ) -> ExecutionPlan:
        """A relaunch of ``indexes`` of ``manifest``: same launch plan, role, queue and
        child; each child keeps its original index, item and output."""
        relaunch = Relaunch(manifest.name, manifest.root, tuple(indexes))
        name = check_name(name) if name else generate_name()
        prefix = f"{manifest.project}/{manifest.domain}/{name}"
        target = Target(name, manifest.project, manifest.domain, self.store.location(prefix))
        first = ExecutionPlan(
            name=name,
            project=manifest.project,
            domain=manifest.domain,
            launch_plan=manifest.launch_plan,
            values={},
            size=len(indexes),
            envs=dict(manifest.envs),
            backend=manifest.backend,
            iam_role_arn=manifest.iam_role_arn,
            kube_service_account=manifest.kube_service_account,
            requested_queue=manifest.queue.name if manifest.queue else None,
            relaunch=relaunch,
            child=kind_of(manifest.launch_plan).relaunch_child(self.store, manifest, target),
        )
        return self._complete(first)


__all__ = [
    "Detail",
    "ExecutionPlan",
    "ExecutionRequest",
    "Executions",
    "Family",
    "FamilyChild",
    "Listing",
    "QueueChoice",
    "Summary",
    "Terminated",
    "require_success",
]
