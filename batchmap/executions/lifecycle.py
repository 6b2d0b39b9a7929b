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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from batchmap import times
from batchmap.backends.base import Backend, Child, ChildQuery, LogCursor, LogEvent, Stopped
from batchmap.errors import BatchmapError, BelowSuccessRatioError, InvalidInputError
from batchmap.executions import manifest as manifests
from batchmap.executions.manifest import (
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
from batchmap.files.store import AlreadyExists, BlobStore
from batchmap.launchplans.registry import Registry
from batchmap.tasks import kind_of
from batchmap.tasks.base import Target

POLL_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 600.0

BackendFactory = Callable[[str], Backend]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Listed:
    manifest: Manifest
    phase: Phase


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution": self.manifest.name,
            "alreadyFinished": self.already_finished,
            "stopped": self.stopped.to_dict() if self.stopped else None,
            "dryRun": self.dry_run,
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
    ) -> None:
        self.store = store
        self.registry = registry
        self._backends = backends
        self._cache: dict[str, Backend] = {}
        self.default_backend = default_backend
        self.default_role = default_role
        self.clock = clock

    def backend(self, name: str) -> Backend:
        if name not in ("local", "aws"):
            raise InvalidInputError(f"--backend must be local or aws; got {name!r}")
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
        )
        return self._complete(first)

    def _complete(self, plan: ExecutionPlan) -> ExecutionPlan:
        kind = kind_of(plan.launch_plan)
        backend = self.backend(plan.backend)
        if plan.child is None:
            target = Target(plan.name, plan.project, plan.domain, self.store.location(plan.prefix))
            plan = replace(plan, child=kind.child(plan.launch_plan, plan.values, target))
        part = backend.plan(plan)
        return replace(
            plan,
            backend_plan=part,
            notes=(*kind.notes(plan.launch_plan, backend.name), *part.notes),
            warnings=part.warnings,
        )

    # -- submission ----------------------------------------------------------------------
    def submit(self, plan: ExecutionPlan, *, foreground: bool = False) -> Manifest:
        """Stage, record, submit, record: the only path from a plan to running children."""
        assert plan.child is not None and plan.backend_plan is not None, "plan() first"
        backend = self.backend(plan.backend)
        key = manifests.key(plan.prefix)
        existing = self.store.get(key)
        if existing is not None:
            manifest = manifests.decode(existing, self.store.uri(key))
            if manifest.state == SUBMITTED:
                raise InvalidInputError(
                    f"execution {plan.name!r} exists in {plan.project}/{plan.domain}",
                    hint=f"see it with 'batchmap get execution -p {plan.project} -d "
                    f"{plan.domain} {plan.name}', or pick another name",
                )
            recovered = backend.recover(plan, manifest)
            if recovered is not None:  # submitted before the crash: record it, never resubmit
                manifest = manifest.replace(
                    run=recovered, state=SUBMITTED, submitted_at=self.clock()
                )
                manifests.save(self.store, manifest)
                return manifest
        kind = kind_of(plan.launch_plan)
        if plan.relaunch:
            root = self.get(plan.project, plan.domain, plan.relaunch.root)
            staged = kind.stage_relaunch(self.store, plan.prefix, root, plan.relaunch.indexes)
        else:
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
        )
        if existing is None:
            try:
                self.store.put(key, manifests.encode(manifest), exclusive=True)
            except AlreadyExists:
                raise InvalidInputError(
                    f"execution {plan.name!r} was created concurrently in "
                    f"{plan.project}/{plan.domain}"
                ) from None
        else:
            manifests.save(self.store, manifest)
        run = backend.submit(plan, manifest, foreground=foreground)
        manifest = manifest.replace(run=run, state=SUBMITTED, submitted_at=self.clock())
        manifests.save(self.store, manifest)
        if plan.relaunch:
            root = self.get(plan.project, plan.domain, plan.relaunch.root)
            manifests.save(self.store, root.replace(relaunches=(*root.relaunches, plan.name)))
        return manifest

    # -- reading -------------------------------------------------------------------------
    def get(self, project: str, domain: str, name: str) -> Manifest:
        return manifests.load(self.store, project, domain, name)

    def list(self, project: str, domain: str) -> Listing:
        """Every execution with its phase: one backend call per 100 array jobs."""
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
        listed = [Listed(m, self._phase(m, counts[m.name])) for m in found if counts[m.name]]
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

    def status(self, manifest: Manifest) -> Phase:
        return self._phase(manifest, self.backend(manifest.backend).counts(manifest))

    def children(self, manifest: Manifest, query: ChildQuery) -> list[Child]:
        found = self.backend(manifest.backend).children(manifest, query)
        return kind_of(manifest.launch_plan).explain(self.store, manifest, found)

    def links(self, manifest: Manifest) -> list[str]:
        return self.backend(manifest.backend).links(manifest)

    def child_links(self, manifest: Manifest, child: Child) -> list[str]:
        return self.backend(manifest.backend).child_links(manifest, child)

    def logs(
        self,
        manifest: Manifest,
        query: ChildQuery,
        cursor: LogCursor,
        *,
        attempt: int | None = None,
        since: Any = None,
    ) -> list[LogEvent]:
        return self.backend(manifest.backend).logs(
            manifest, query, cursor, attempt=attempt, since=since
        )

    def follow(
        self,
        manifest: Manifest,
        query: ChildQuery,
        *,
        attempt: int | None = None,
        since: Any = None,
        sleep: Sleep = time.sleep,
        poll: float = POLL_SECONDS,
    ) -> Iterator[tuple[Phase, list[LogEvent]]]:
        """(phase, new log events) until the execution ends; the events of each tick are
        read after its phase, so nothing written before the end is missed."""
        cursor = LogCursor()
        while True:
            phase = self.status(manifest)
            yield phase, self.logs(manifest, query, cursor, attempt=attempt, since=since)
            if phase.done:
                return
            sleep(poll)

    def outputs(self, manifest: Manifest) -> tuple[list[Any], list[str | None]]:
        from batchmap.executions.outputs import gather

        return gather(self.store, manifest, self.get)

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

    def _settle(self, manifest: Manifest) -> None:
        """The backend's clean-up of a finished execution, recorded (best effort)."""
        try:
            current = self.get(manifest.project, manifest.domain, manifest.name)
            done = self.backend(manifest.backend).cleanup(current)
            if done:
                manifests.save(self.store, current.replace(run={**current.run, **done}))
        except BatchmapError:
            pass

    def interrupt(self, manifest: Manifest) -> str:
        """Ctrl-C during a wait: stop what this process runs; say what happens to the rest."""
        return self.backend(manifest.backend).interrupt(manifest)

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
        counts = backend.counts(manifest)
        if finished(counts, manifest.size):
            return Terminated(manifest, True, None, self._phase(manifest, counts), dry_run)
        stopped = backend.terminate(manifest, reason, dry_run=dry_run, wait=wait)
        if dry_run:
            return Terminated(manifest, False, stopped, self._phase(manifest, counts), True)
        manifest = manifest.replace(terminated=Termination(self.clock(), reason))
        manifests.save(self.store, manifest)
        waited = 0.0
        while wait and not finished(counts, manifest.size) and waited < timeout:
            sleep(poll)
            waited += poll
            counts = backend.counts(manifest)
        if finished(counts, manifest.size):
            self._settle(manifest)
        return Terminated(manifest, False, stopped, self._phase(manifest, counts))

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
            raise InvalidInputError(
                f"--index {outside[0]} is not a child of execution {manifest.name!r}"
                + (
                    " (a relaunch holds only the indexes it re-ran)"
                    if manifest.relaunch
                    else f" (0-{manifest.size - 1})"
                )
            )
        if failed:
            query = ChildQuery(statuses=frozenset({"FAILED"}), limit=None)
            chosen.update(child.index for child in self.children(manifest, query))
        return sorted(chosen)

    def plan_relaunch(
        self, manifest: Manifest, indexes: list[int], name: str | None = None
    ) -> ExecutionPlan:
        """A relaunch of ``indexes`` of ``manifest``: same launch plan, role, queue and
        child; each child keeps its original index, item and output."""
        relaunch = Relaunch(manifest.name, manifest.root, tuple(indexes))
        first = ExecutionPlan(
            name=check_name(name) if name else generate_name(),
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
            child=manifest.child,
        )
        return self._complete(first)


__all__ = [
    "ExecutionPlan",
    "ExecutionRequest",
    "Executions",
    "Listing",
    "QueueChoice",
    "Terminated",
    "require_success",
]
