"""From what a user asked for to what a submission will do: requests and plans.

``ExecutionRequest`` is what a user gives (the exec file and the flags of
``create execution``). ``draft`` reads and checks it against its launch plan
(no side effects); the lifecycle then completes the plan with the task kind's
child and the backend's part (queue, identity checks, requests). Nothing in an
``ExecutionPlan`` changes after it is made: ``--dryRun`` prints exactly it.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchmap.aws.iam import role_arn_problem, service_account_problem
from batchmap.errors import InvalidInputError
from batchmap.executions import execfile
from batchmap.executions.manifest import QueueChoice, Relaunch
from batchmap.executions.phase import min_successes
from batchmap.launchplans.model import LaunchPlan
from batchmap.launchplans.registry import Registry
from batchmap.tasks.base import ChildSpec

if TYPE_CHECKING:
    from batchmap.backends.base import BackendPlan

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def generate_name() -> str:
    """A name like Flyte's: a letter, then 19 letters or digits."""
    first = secrets.choice(string.ascii_lowercase)
    rest = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(19))
    return first + rest


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid execution name {name[:70]!r}: use 1-63 lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return name


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


@dataclass(frozen=True)
class ExecutionPlan:
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

    @property
    def prefix(self) -> str:
        return f"{self.project}/{self.domain}/{self.name}"

    @property
    def min_successes(self) -> int:
        return min_successes(self.launch_plan.map.min_success_ratio, self.size)

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
            "launchPlan": {
                "name": lp.name,
                "version": lp.version,
                "project": lp.project,
                "domain": lp.domain,
            },
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
        if self.relaunch:
            out.update(
                relaunchOf=self.relaunch.of,
                root=self.relaunch.root,
                indexMap=list(self.relaunch.indexes),
            )
        if self.backend_plan:
            out.update(self.backend_plan.details)
        return out


def draft(
    request: ExecutionRequest, registry: Registry, *, backend: str, default_role: str | None
) -> ExecutionPlan:
    """Load and check the exec file against its launch plan. No side effects."""
    ef = execfile.load(request.exec_file)
    version = request.version or ef.version
    launch_plan = registry.get(request.project, request.domain, ef.workflow or "", version)
    values = execfile.resolve_inputs(ef, launch_plan)
    role = request.iam_role_arn or ef.iam_role_arn or launch_plan.iam_role_arn or default_role
    account = request.kube_service_account or ef.kube_service_account
    for flag, value, check in (
        ("--iamRoleARN", request.iam_role_arn, role_arn_problem),
        ("--kubeServiceAcct", request.kube_service_account, service_account_problem),
    ):
        problem = check(value) if value else None
        if problem:
            raise InvalidInputError(f"{flag}: {problem}")
    return ExecutionPlan(
        name=check_name(request.name) if request.name else generate_name(),
        project=request.target_project or ef.target_project or request.project,
        domain=request.target_domain or ef.target_domain or request.domain,
        launch_plan=launch_plan,
        values=values,
        size=execfile.map_size(launch_plan, values),
        envs=ef.envs,
        backend=backend,
        iam_role_arn=role,
        kube_service_account=account,
        requested_queue=request.queue,
    )
