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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchmap import times
from batchmap.backends.base import (
    ChildQuery,
    Stopped,
)
from batchmap.errors import (
    BatchmapError,
    BelowSuccessRatioError,
    InvalidInputError,
    UsageError,
)
from batchmap.executions import blobs
from batchmap.executions import manifest as manifests
from batchmap.executions.family import Detail, Family, FamilyChild
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
from batchmap.executions.names import check_name, generate_name
from batchmap.executions.phase import Phase, finished
from batchmap.executions.reading import (
    POLL_SECONDS,
    BackendFactory,
    Listing,
    Reader,
    Sleep,
)
from batchmap.executions.summary import Summary
from batchmap.files.store import AlreadyExists, BlobStore
from batchmap.tasks import kind_of
from batchmap.tasks.base import Target

if TYPE_CHECKING:  # planning's modules load when a command plans (reading needs none)
    from batchmap.executions.items import S3Getter
    from batchmap.executions.plan import ExecutionPlan, ExecutionRequest
    from batchmap.launchplans.registry import Registry

STOP_TIMEOUT_SECONDS = 600.0


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


class Executions(Reader):
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
        checks: Path | None = None,
    ) -> None:
        super().__init__(store, backends, clock=clock)
        self.checks = checks  # where passed schema checks are remembered (files/checked.py)
        self.registry = registry
        self.default_backend = default_backend
        self.default_role = default_role
        self.s3 = s3  # the S3 client for items read from S3, made only when needed

    # -- planning (no side effects) ------------------------------------------------------
    def plan(self, request: ExecutionRequest) -> ExecutionPlan:
        """Everything a submission will do, checked against the exec file, the launch plan,
        the task kind and the backend (read-only AWS calls only)."""
        from batchmap.executions.plan import draft

        first = draft(
            request,
            self.registry,
            backend=request.backend or self.default_backend,
            default_role=self.default_role,
            s3=self.s3,
            checks=self.checks,
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
        from batchmap.executions.items import describe_sources

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
        backend = self.backend(manifest.backend)
        while True:
            phase = self.status(manifest)
            if on_progress is not None:
                on_progress(phase)
            if phase.done and (phase.phase != "ABORTED" or self._stopped(manifest)):
                break
            if not backend.join(manifest, timeout=poll):  # run here: woken at its end
                sleep(poll)
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
        stopped = backend.terminate(manifest, reason, dry_run=dry_run, wait=wait)
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
        from batchmap.executions.plan import ExecutionPlan

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
    "Executions",
    "Family",
    "FamilyChild",
    "Listing",
    "QueueChoice",
    "Summary",
    "Terminated",
    "require_success",
]
