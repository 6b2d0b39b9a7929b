"""From what a user asked for to what a submission will do: requests and plans.

``ExecutionRequest`` is what a user gives (the exec file and the flags of
``create execution``). ``draft`` reads and checks it against its launch plan
(no side effects); the lifecycle then completes the plan with the task kind's
child and the backend's part (queue, identity checks, requests). Nothing in an
``ExecutionPlan`` changes after it is made: ``--dryRun`` prints exactly it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchmap.aws.arns import role_arn_problem, service_account_problem
from batchmap.errors import InvalidInputError
from batchmap.executions.items import S3Getter, describe_sources, parse_overrides
from batchmap.executions.manifest import Derived, QueueChoice, Relaunch
from batchmap.executions.names import check_name, generate_name
from batchmap.launchplans.model import LaunchPlan
from batchmap.launchplans.registry import Registry
from batchmap.tasks.base import ChildSpec

if TYPE_CHECKING:
    from batchmap.backends.base import BackendPlan
    from batchmap.executions.blobs import Upload


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
    backend: str | None = None  # default: the config's
    items: tuple[str, ...] = ()  # --items NAME=PATH: a list input's items from a file or S3
    cwd: Path | None = None  # where relative --items paths start (default: the process's)


@dataclass(frozen=True)
class ExecutionPlan(Derived):
    """Everything a submission will do, decided before any side effect."""

    name: str
    project: str
    domain: str
    launch_plan: LaunchPlan
    values: Mapping[str, Any]
    size: int
    envs: Mapping[str, str]
    backend: str
    iam_role_arn: str | None = None
    kube_service_account: str | None = None
    requested_queue: str | None = None
    relaunch: Relaunch | None = None
    child: ChildSpec | None = None  # the task kind's part
    backend_plan: BackendPlan | None = None  # the backend's part
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    uploads: tuple[Upload, ...] = ()  # local files and folders to copy into the store

    @property
    def queue(self) -> QueueChoice | None:
        return self.backend_plan.queue if self.backend_plan else None

    def to_dict(self) -> dict[str, Any]:
        """What ``--dryRun -o json|yaml`` prints."""
        lp = self.launch_plan
        out: dict[str, Any] = {
            "name": self.name,
            "project": self.project,
            "domain": self.domain,
            "launchPlan": lp.ref(),
            "backend": self.backend,
            "size": self.size,
            "minSuccessRatio": lp.map.min_success_ratio,
            "minSuccesses": self.min_successes,
            "queue": self.queue.to_dict() if self.queue else None,
            "iamRoleARN": self.iam_role_arn,
            "kubeServiceAcct": self.kube_service_account,
            "envs": dict(self.envs),
            "command": list(lp.task.command),
            "child": self.child.to_dict() if self.child else None,
        }
        sources = describe_sources(self.values)
        if sources:
            out["itemSources"] = sources
        if self.relaunch:
            out.update(
                relaunchOf=self.relaunch.of,
                root=self.relaunch.root,
                indexMap=list(self.relaunch.indexes),
            )
        if self.uploads:
            out["uploads"] = [u.to_dict() for u in self.uploads]
        if self.backend_plan:
            out.update(self.backend_plan.details)
        return out


def draft(
    request: ExecutionRequest,
    registry: Registry,
    *,
    backend: str,
    default_role: str | None,
    s3: S3Getter | None = None,
    checks: Path | None = None,
) -> ExecutionPlan:
    """Load and check the exec file against its launch plan, reading items from files or
    S3 (``s3`` gives the S3 client, only when one is needed). No side effects besides
    remembering a passed schema check in ``checks`` (files/checked.py)."""
    from batchmap.executions import execfile  # only creating reads exec files

    overrides = parse_overrides(request.items, request.cwd or Path.cwd())
    ef = execfile.load(request.exec_file, checks=checks)
    if ef.task:  # flytectl's task exec file: the launch plan that maps that task
        ef = execfile.for_task(ef, registry.list(request.project, request.domain))
    version = request.version or ef.version
    launch_plan = registry.get(request.project, request.domain, ef.workflow or "", version)
    values = execfile.resolve_inputs(ef, launch_plan, overrides=overrides, s3=s3)
    role = request.iam_role_arn or ef.iam_role_arn or launch_plan.iam_role_arn or default_role
    account = request.kube_service_account or ef.kube_service_account
    for flag, value, check in (
        ("--iamRoleARN", request.iam_role_arn, role_arn_problem),
        ("--kubeServiceAcct", request.kube_service_account, service_account_problem),
    ):
        problem = check(value) if value else None
        if problem:
            raise InvalidInputError(f"{flag}: {problem}")
    if backend == "aws":  # the file's identity syntax was a warning until AWS uses it
        identity = {k.lower() for k in execfile.IDENTITY_KEYS}
        refused = [w for w in ef.warnings if w.path.lower() in identity]
        if refused:
            raise InvalidInputError.from_problems(
                [replace(w, warning=False) for w in refused], f"{ef.path}: invalid exec file"
            )
    # flytectl: the execution goes to --targetProject/--targetDomain, else -p/-d; the file's
    # values are replaced (flytectl/cmd/create/execution_util.go, resolveOverrides).
    project = request.target_project or request.project
    domain = request.target_domain or request.domain
    warnings = [str(w) for w in ef.warnings]
    for key, written, used, flag in (
        ("targetProject", ef.target_project, project, "-p"),
        ("targetDomain", ef.target_domain, domain, "-d"),
    ):
        if written and written != used:
            warnings.append(
                f"{ef.path}: {key} {written!r} is not used: as in flytectl, the execution goes "
                f"to --{key}, else {flag} ({used})"
            )
    return ExecutionPlan(
        name=check_name(request.name) if request.name else generate_name(),
        project=project,
        domain=domain,
        launch_plan=launch_plan,
        values=values,
        size=execfile.map_size(launch_plan, values),
        envs=ef.envs,
        backend=backend,
        iam_role_arn=role,
        kube_service_account=account,
        requested_queue=request.queue,
        warnings=tuple(warnings),
    )
