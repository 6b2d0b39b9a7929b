"""``batchmap run``: a map with no YAML — an ad-hoc launch plan named by its content.

The task (image, command template, resources, the items' type) is hashed: the
launch plan is ``run-<8 hex>``, version ``<12 hex>`` of that hash, in the chosen
project and domain. Running the same command again finds it registered and
reuses it; any change makes another launch plan. Its one input, ``items``, is
the mapped list, read from a file, an S3 object or prefix, or stdin
(``items.py``). The execution is an ordinary one: ``get execution``, ``logs``,
``relaunch`` and ``delete`` work on it unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from batchmap.aws.arns import role_arn_problem
from batchmap.errors import InvalidInputError
from batchmap.executions import items as item_sources
from batchmap.executions.lifecycle import Executions
from batchmap.executions.manifest import Manifest
from batchmap.executions.names import check_name, generate_name
from batchmap.executions.plan import ExecutionPlan
from batchmap.files.yamldoc import YamlDocument
from batchmap.launchplans.inputs import InputType, TypeSyntaxError, parse_type
from batchmap.launchplans.model import PLACEHOLDER, LaunchPlan, canonical_json
from batchmap.launchplans.parse import Overrides, parse_document

INPUT = "items"
ITEM = "{{ item }}"
_SPLIT_OPEN = re.compile(r"^\{\{\s*$")


@dataclass(frozen=True)
class RunRequest:
    """What ``batchmap run`` was asked for (flags and the command after ``--``)."""

    project: str
    domain: str
    image: str
    command: tuple[str, ...]
    items: item_sources.ItemsSpec
    item_type: str | None = None  # default: the first item's type (str for text and prefixes)
    vcpu: float | None = None
    memory: str | None = None
    gpu: int | None = None
    retries: int | None = None
    timeout: str | None = None
    concurrency: int | None = None
    queue: str | None = None
    backend: str | None = None  # default: the config's
    name: str | None = None
    iam_role_arn: str | None = None  # default: the config's flyteadmin.assumableIamRole


@dataclass
class RunPlan:
    launch_plan: LaunchPlan
    execution: ExecutionPlan
    reused: bool  # the launch plan is registered already

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.execution.to_dict(),
            "launchPlanSpec": self.launch_plan.spec_dict(),
            "launchPlanStatus": "registered already" if self.reused else "to register",
        }


def command_template(args: Sequence[str]) -> tuple[str, ...]:
    """The command as a template: ``{{ item }}`` split by an unquoting shell into ``{{``,
    ``item``, ``}}`` is joined again; a command with no placeholder gets the item as its
    last argument, as xargs and GNU parallel do."""
    out: list[str] = []
    i = 0
    while i < len(args):
        if _SPLIT_OPEN.match(args[i]) and i + 2 < len(args) and args[i + 2].strip() == "}}":
            out.append(f"{{{{ {args[i + 1].strip()} }}}}")
            i += 3
            continue
        out.append(args[i])
        i += 1
    if not out:
        raise InvalidInputError(
            "no command to run", hint="put it after '--': batchmap run --image IMG -- CMD ARG..."
        )
    if not any(PLACEHOLDER.search(arg) for arg in out):
        out.append(ITEM)
    return tuple(out)


def launch_plan(request: RunRequest, item_type: InputType) -> LaunchPlan:
    """The ad-hoc launch plan, checked like any launch plan file."""
    task: dict[str, Any] = {"image": request.image, "command": list(request.command)}
    for key, value in (
        ("vcpu", request.vcpu),
        ("memory", request.memory),
        ("gpu", request.gpu),
        ("retries", request.retries),
        ("timeout", request.timeout),
    ):
        if value is not None:
            digits = str(value).isascii() and str(value).isdigit()
            task[key] = int(value) if key == "memory" and digits else value
    body: dict[str, Any] = {
        "inputs": {INPUT: {"type": f"list[{item_type}]"}},
        "map": {"over": [INPUT]},
        "task": task,
    }
    if request.concurrency is not None:
        body["map"]["concurrency"] = request.concurrency
    digest = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    name = f"run-{digest[:8]}"
    spec = {
        "project": request.project,
        "domain": request.domain,
        "name": name,
        "version": digest[:12],
        "description": "batchmap run: " + " ".join(request.command)[:200],
        **body,
    }
    plan, problems = parse_document(YamlDocument("batchmap run", spec), Overrides())
    if plan is None:
        raise InvalidInputError.from_problems(problems, "batchmap run: the task is not valid")
    return plan


def prepare(
    request: RunRequest, executions: Executions, *, stdin: IO[bytes] | None = None
) -> RunPlan:
    """Read and check the items, build the launch plan and the execution's plan (the
    backend's part included: read-only AWS calls only). No side effects."""
    declared = None
    if request.item_type:
        try:
            declared = parse_type(request.item_type)
        except TypeSyntaxError as exc:
            raise InvalidInputError(f"--item-type: {exc}") from None
        launch_plan(request, declared)  # a bad command fails before any item is read
    if request.iam_role_arn and role_arn_problem(request.iam_role_arn):
        raise InvalidInputError(f"--iamRoleARN: {role_arn_problem(request.iam_role_arn)}")
    name = check_name(request.name) if request.name else generate_name()
    read = item_sources.read(request.items, declared, s3=executions.s3, stdin=stdin)
    if len(read) == 0:
        raise InvalidInputError(
            f"{request.items.label}: no items: nothing to run",
            hint="give a file with one item per line, or pipe them on stdin",
        )
    plan = launch_plan(request, read.item_type)
    execution = ExecutionPlan(
        name=name,
        project=request.project,
        domain=request.domain,
        launch_plan=plan,
        values={INPUT: read},
        size=len(read),
        envs={},
        backend=request.backend or executions.default_backend,
        iam_role_arn=request.iam_role_arn or executions.default_role,
        requested_queue=request.queue,
    )
    reused = executions.registry.find(*plan.key) is not None
    return RunPlan(plan, executions.complete(execution), reused)


def submit(run: RunPlan, executions: Executions, *, foreground: bool) -> Manifest:
    """Register the launch plan (a no-op when it exists), then submit the execution."""
    executions.registry.register([run.launch_plan])
    return executions.submit(run.execution, foreground=foreground)
