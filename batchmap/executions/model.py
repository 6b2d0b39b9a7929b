"""Executions: names, the plan of a submission, the manifest, and their lifecycle.

This is the one module that orders side effects. ``prepare`` reads and checks
everything and touches nothing (``--dryRun`` prints its result); ``create``
then stages inputs, writes the manifest as SUBMITTING, submits through the
backend and records the result as SUBMITTED. Re-running with the same name
never submits twice: a SUBMITTED manifest is refused, a SUBMITTING one (a
crash between steps) is completed by the backend's ``recover``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchmap.aws.iam import role_arn_problem, service_account_problem
from batchmap.errors import InvalidInputError, NotFoundError
from batchmap.executions import execfile
from batchmap.executions.items import S3Getter, describe_sources, parse_overrides
from batchmap.executions.staging import stage, stage_relaunch
from batchmap.files.store import AlreadyExists, BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.launchplans.registry import Registry

API_VERSION = "batchmap/v1"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
SUBMITTING, SUBMITTED = "SUBMITTING", "SUBMITTED"


def generate_name() -> str:
    """A name like Flyte's: a letter, then 19 letters or digits."""
    first = secrets.choice(string.ascii_lowercase)
    rest = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(19))
    return first + rest


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid execution name {name!r}: use 1-63 lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return name


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class ExecutionRequest:
    """What the user asked for: flags of `create execution` plus the exec file."""

    project: str
    domain: str
    exec_file: Path
    name: str | None = None
    iam_role_arn: str | None = None
    kube_service_account: str | None = None
    target_project: str | None = None
    target_domain: str | None = None
    version: str | None = None
    queue: str | None = None
    backend: str = "local"
    default_iam_role: str | None = None  # the config's flyteadmin.assumableIamRole
    items: tuple[str, ...] = ()  # --items NAME=PATH: a list input's items from a file or S3
    cwd: Path | None = None  # where relative --items paths start (default: the process's)


@dataclass
class ExecutionPlan:
    """Everything a submission will do, decided before any side effect."""

    name: str
    project: str
    domain: str
    plan: LaunchPlan
    values: dict[str, Any]
    size: int
    envs: dict[str, str]
    backend: str
    iam_role_arn: str | None = None
    kube_service_account: str | None = None
    queue: str | None = None
    queue_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # backend's dry-run view
    relaunch: dict[str, Any] | None = None  # of, root, rootPrefix, indexes

    @property
    def min_successes(self) -> int:
        return math.ceil(self.plan.map.min_success_ratio * self.size - 1e-9)

    @property
    def prefix(self) -> str:
        return f"{self.project}/{self.domain}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "domain": self.domain,
            "launchPlan": {
                "name": self.plan.name,
                "version": self.plan.version,
                "project": self.plan.project,
                "domain": self.plan.domain,
            },
            "backend": self.backend,
            "size": self.size,
            "minSuccessRatio": self.plan.map.min_success_ratio,
            "minSuccesses": self.min_successes,
            "queue": {"name": self.queue, "reason": self.queue_reason} if self.queue else None,
            "iamRoleARN": self.iam_role_arn,
            "kubeServiceAcct": self.kube_service_account,
            "envs": self.envs,
            "command": list(self.plan.task.command),
            **({"itemSources": sources} if (sources := describe_sources(self.values)) else {}),
            **(
                {
                    "relaunchOf": self.relaunch["of"],
                    "root": self.relaunch["root"],
                    "indexMap": self.relaunch["indexes"],
                }
                if self.relaunch
                else {}
            ),
            **self.details,
        }


def prepare(
    request: ExecutionRequest, registry: Registry, *, s3: S3Getter | None = None
) -> ExecutionPlan:
    """Load and check the exec file against its launch plan, reading items from files or
    S3 (``s3`` gives the S3 client, only when one is needed). No side effects."""
    overrides = parse_overrides(request.items, request.cwd or Path.cwd())
    ef = execfile.load(request.exec_file)
    version = request.version or ef.version
    plan = registry.get(request.project, request.domain, ef.workflow or "", version)
    values = execfile.resolve_inputs(ef, plan, overrides=overrides, s3=s3)
    role = request.iam_role_arn or ef.iam_role_arn or plan.iam_role_arn or request.default_iam_role
    account = request.kube_service_account or ef.kube_service_account
    for flag, value, check in (
        ("--iamRoleARN", request.iam_role_arn, role_arn_problem),
        ("--kubeServiceAcct", request.kube_service_account, service_account_problem),
    ):
        problem = check(value) if value else None
        if problem:
            raise InvalidInputError(f"{flag}: {problem}")
    name = check_name(request.name) if request.name else generate_name()
    return ExecutionPlan(
        name=name,
        project=request.target_project or ef.target_project or request.project,
        domain=request.target_domain or ef.target_domain or request.domain,
        plan=plan,
        values=values,
        size=execfile.map_size(plan, values),
        envs=ef.envs,
        backend=request.backend,
        iam_role_arn=role,
        kube_service_account=account,
        queue=request.queue,
    )


@dataclass
class Manifest:
    """``PROJECT/DOMAIN/EXECUTION/execution.json``: what was submitted, and where."""

    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def project(self) -> str:
        return str(self.data["project"])

    @property
    def domain(self) -> str:
        return str(self.data["domain"])

    @property
    def state(self) -> str:
        return str(self.data["state"])

    @property
    def size(self) -> int:
        return int(self.data["size"])

    @property
    def min_successes(self) -> int:
        return int(self.data["minSuccesses"])

    @property
    def backend(self) -> str:
        return str(self.data["backend"])

    @property
    def prefix(self) -> str:
        return f"{self.project}/{self.domain}/{self.name}"

    @property
    def created_at(self) -> dt.datetime | None:
        return parse_time(self.data.get("createdAt"))

    @property
    def task(self) -> Mapping[str, Any]:
        return self.data["launchPlanSpec"]["task"]

    def to_dict(self) -> dict[str, Any]:
        return self.data


def manifest_key(prefix: str) -> str:
    return f"{prefix}/execution.json"


def _encode(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.data, indent=2, ensure_ascii=False) + "\n").encode()


def save(store: BlobStore, manifest: Manifest) -> None:
    store.put(manifest_key(manifest.prefix), _encode(manifest))


def load(store: BlobStore, project: str, domain: str, name: str) -> Manifest:
    data = store.get(manifest_key(f"{project}/{domain}/{name}"))
    if data is None:
        raise NotFoundError(
            f"execution {name!r} not found in {project}/{domain}",
            hint=f"list executions with 'batchmap get execution -p {project} -d {domain}'",
        )
    return Manifest(json.loads(data))


def list_manifests(store: BlobStore, project: str, domain: str) -> list[Manifest]:
    """Every execution of a project and domain, newest first."""
    manifests = []
    for key in store.list(f"{project}/{domain}"):
        if key.count("/") == 3 and key.endswith("/execution.json"):
            data = store.get(key)
            if data is not None:
                manifests.append(Manifest(json.loads(data)))
    manifests.sort(key=lambda m: m.data.get("createdAt") or "", reverse=True)
    return manifests


def create(
    plan: ExecutionPlan,
    store: BlobStore,
    backend: Any,
    *,
    foreground: bool = False,
    clock: Any = now,
) -> Manifest:
    """Stage, record, submit, record: the only path from a plan to running children."""
    key = manifest_key(plan.prefix)
    existing = store.get(key)
    if existing is not None:
        manifest = Manifest(json.loads(existing))
        if manifest.state == SUBMITTED:
            raise InvalidInputError(
                f"execution {plan.name!r} exists in {plan.project}/{plan.domain}",
                hint=f"see it with 'batchmap get execution -p {plan.project} -d {plan.domain} "
                f"{plan.name}', or pick another name",
            )
        recovered = backend.recover(plan, manifest)
        if recovered is not None:  # submitted before the crash: record it, never resubmit
            manifest.data.update(recovered, state=SUBMITTED, submittedAt=iso(clock()))
            save(store, manifest)
            return manifest
    if plan.relaunch:
        staged = stage_relaunch(
            store, plan.prefix, plan.relaunch["rootPrefix"], plan.relaunch["indexes"]
        )
    else:
        staged = stage(store, plan.prefix, plan.plan, plan.values)
        if plan.plan.flyte:
            from batchmap.flyte.command import INPUTS, inputs_pb

            store.put(f"{plan.prefix}/{INPUTS}", inputs_pb(plan))
    manifest = Manifest(
        {
            "apiVersion": API_VERSION,
            "kind": "Execution",
            **plan.to_dict(),
            "state": SUBMITTING,
            "createdAt": iso(clock()),
            "inputsUri": staged.inputs_uri,
            "outputPrefix": store.uri(f"{plan.prefix}/outputs"),
            "launchPlanSpec": plan.plan.spec_dict(),
        }
    )
    if existing is None:
        try:
            store.put(key, _encode(manifest), exclusive=True)
        except AlreadyExists:
            raise InvalidInputError(
                f"execution {plan.name!r} was created concurrently in {plan.project}/{plan.domain}"
            ) from None
    else:
        save(store, manifest)
    submitted = backend.submit(plan, manifest, foreground=foreground)
    manifest.data.update(submitted, state=SUBMITTED, submittedAt=iso(clock()))
    save(store, manifest)
    if plan.relaunch:
        root = load(store, plan.project, plan.domain, plan.relaunch["root"])
        root.data["relaunches"] = [*root.data.get("relaunches", []), plan.name]
        save(store, root)
    return manifest


@dataclass(frozen=True)
class Phase:
    phase: str  # RUNNING | SUCCEEDED | FAILED
    succeeded: int
    failed: int
    running: int
    queued: int
    size: int
    min_successes: int

    @property
    def done(self) -> bool:
        return self.phase != "RUNNING"

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


def phase_of(counts: Mapping[str, int], size: int, min_successes: int) -> Phase:
    """Flyte's SummaryToPhase: fail as soon as the minimum can no longer be met,
    succeed only when every child is terminal and the minimum is met."""
    succeeded, failed = counts.get("SUCCEEDED", 0), counts.get("FAILED", 0)
    running = counts.get("RUNNING", 0) + counts.get("STARTING", 0)
    queued = size - succeeded - failed - running
    if size - failed < min_successes:
        phase = "FAILED"
    elif succeeded + failed >= size:
        phase = "SUCCEEDED" if succeeded >= min_successes else "FAILED"
    else:
        phase = "RUNNING"
    return Phase(phase, succeeded, failed, running, max(queued, 0), size, min_successes)
