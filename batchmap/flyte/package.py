"""``pyflyte package`` output (a .tgz, or loose .pb files) as batchmap launch plans.

flytekit serializes each task as ``NN_<name>_1.pb`` (TaskSpec), each workflow
as ``_2.pb`` (WorkflowSpec) and each launch plan as ``_3.pb`` (LaunchPlan). A
launch plan batchmap can run is one whose workflow is a single legacy map task
(``container_array``, task type version 1): its inputs and defaults come from
``spec.defaultInputs``, which workflow inputs feed the map node from the
node's bindings, ``minSuccessRatio`` from the task's ``custom``, and image,
resources, retries, timeout and environment from the task template. Values AWS Batch
would refuse are changed as FlytePropeller changes them (a fractional CPU rounded up to a
whole vCPU), each with a note kept in the launch plan's ``flyte.notes``, which
``register files`` and ``create execution`` show.
"""

from __future__ import annotations

import base64
import math
import re
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchmap.aws import limits
from batchmap.errors import InvalidInputError
from batchmap.files.safe import PACKAGE_LIMIT, PROTOBUF_LIMIT, check_regular, read_bytes
from batchmap.flyte import require
from batchmap.flyte.literals import Unsupported, to_value, type_name

SUFFIXES = (".pb", ".tgz", ".tar.gz")


def is_flyte_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


@dataclass
class Entities:
    tasks: dict[str, Any]
    workflows: dict[str, Any]
    launch_plans: list[Any]


def _parse(name: str, data: bytes, entities: Entities) -> None:
    from flyteidl.admin import launch_plan_pb2, task_pb2, workflow_pb2

    kind = re.search(r"_(\d)\.pb$", name)
    try:
        if kind and kind.group(1) == "1":
            spec = task_pb2.TaskSpec()
            spec.ParseFromString(data)
            entities.tasks[spec.template.id.name] = spec.template
        elif kind and kind.group(1) == "2":
            spec = workflow_pb2.WorkflowSpec()
            spec.ParseFromString(data)
            entities.workflows[spec.template.id.name] = spec.template
        elif kind and kind.group(1) == "3":
            plan = launch_plan_pb2.LaunchPlan()
            plan.ParseFromString(data)
            entities.launch_plans.append(plan)
        else:
            raise InvalidInputError(f"{name}: not a flytekit file (NN_name_1|2|3.pb)")
    except Exception as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(
            f"{name}: not a Flyte {kind.group(1) if kind else ''} protobuf ({type(exc).__name__})"
        ) from None


def read(paths: Iterable[Path]) -> Entities:
    """Every task, workflow and launch plan of the given .tgz and .pb files."""
    require()
    entities = Entities({}, {}, [])
    for path in paths:
        if path.name.endswith((".tgz", ".tar.gz")):
            check_regular(path, what="a pyflyte package", limit=PACKAGE_LIMIT)
            try:
                with tarfile.open(path) as archive:
                    for member in archive.getmembers():
                        handle = archive.extractfile(member) if member.isfile() else None
                        if handle is not None and member.name.endswith(".pb"):
                            if member.size > PROTOBUF_LIMIT:
                                raise InvalidInputError(
                                    f"{path}:{member.name}: {member.size:,} bytes, over the "
                                    f"{PROTOBUF_LIMIT:,} batchmap reads as a Flyte protobuf"
                                )
                            _parse(f"{path}:{member.name}", handle.read(), entities)
            # A cut-off archive ends in EOFError (zlib), which must not read as Ctrl-C.
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                why = str(exc) or type(exc).__name__
                if isinstance(exc, EOFError):
                    why = "it ends early: the file is truncated"
                raise InvalidInputError(f"{path}: not a readable package ({why})") from None
        else:
            data = read_bytes(path, what="a Flyte .pb file", limit=PROTOBUF_LIMIT)
            _parse(str(path), data, entities)
    return entities


# Memory units as batchmap has always read them (MiB per unit); no unit is bytes.
_MEMORY_MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2, "M": 1, "G": 1000, "T": 10**6}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)")
_EXAMPLES = {"cpu": "2 or 500m", "gpu": "1", "memory": "512Mi or 4Gi"}
# AWS Batch takes vCPUs, MiB and GPUs as 32-bit integers.
_MAX_RESOURCE = 2**31 - 1


def _quantity(task: str, resource: str, value: str, units: dict[str, float]) -> float:
    """A Kubernetes quantity of ``units`` (``500m``, ``2``, ``4Gi``), or one clear error:
    the package was not written by flytekit, or by a flytekit batchmap cannot read."""
    match = _QUANTITY.fullmatch(value.strip())
    if match is None or match.group(2) not in units:
        raise InvalidInputError(
            f"Flyte task {task}: {resource} {value[:40]!r} is not a quantity batchmap reads "
            f"(such as {_EXAMPLES[resource]})"
        )
    amount = float(match.group(1)) * units[match.group(2)]
    if not amount <= _MAX_RESOURCE:  # also inf, from a 400-digit number
        raise InvalidInputError(
            f"Flyte task {task}: {resource} {value[:40]!r} is more than AWS Batch can ask for"
        )
    return amount


def _resources(container: Any, task: str = "") -> tuple[dict[str, Any], list[str]]:
    """vcpu and memory (MiB) from the container's limits, else requests (as Propeller), and
    a note for each value changed to one AWS Batch takes.

    Propeller sends ``vcpus`` = the CPU limit's ``Quantity.Value()``, which rounds up to a
    whole CPU (flyteplugins/go/tasks/plugins/array/awsbatch/transformer.go,
    ``toContainerOverrides``: "Batch expects a rounded number of whole CPUs"); AWS Batch
    takes whole vCPUs on EC2 (batchmap/aws/limits.py), so batchmap rounds up the same way.
    """
    out: dict[str, Any] = {}
    cpu = None
    for group in (container.resources.requests, container.resources.limits):
        for entry in group:
            name = {1: "vcpu", 2: "gpu", 3: "memory"}.get(entry.name)
            value = entry.value
            if name == "vcpu":
                cpu = value
                out["vcpu"] = _quantity(task, "cpu", value, {"": 1, "m": 1 / 1000})
            elif name == "gpu":
                gpus = _quantity(task, "gpu", value, {"": 1})
                if not gpus.is_integer():
                    raise InvalidInputError(
                        f"Flyte task {task}: gpu {value!r} is not a whole number of GPUs"
                    )
                out["gpu"] = int(gpus)
            elif name == "memory":
                mib = _quantity(task, "memory", value, {"": 1 / 2**20, **_MEMORY_MIB})
                out["memory"] = max(4, int(mib))
    notes = []
    vcpu = out.get("vcpu")
    if vcpu is not None and (vcpu < 1 or not vcpu.is_integer()):
        whole = max(1, math.ceil(vcpu))
        notes.append(
            f"task.vcpu: the task asks for {cpu} CPU; AWS Batch on EC2 takes whole vCPUs, so "
            f"{whole} vCPU is requested (FlytePropeller rounds up the same way)"
        )
        out["vcpu"] = whole
    return out, notes


def convert(
    plan: Any, entities: Entities, project: str, domain: str, version: str
) -> dict[str, Any]:
    """A batchmap launch-plan spec (the file format) for one Flyte launch plan."""
    workflow_name = plan.spec.workflow_id.name
    workflow = entities.workflows.get(workflow_name)
    if workflow is None:
        raise Unsupported(f"its workflow {workflow_name} is not in the files")
    nodes = [n for n in workflow.nodes if n.id not in ("start-node", "end-node")]
    if len(nodes) != 1 or not nodes[0].HasField("task_node"):
        raise Unsupported(
            f"its workflow has {len(nodes)} nodes; batchmap runs workflows of exactly one map task"
        )
    node = nodes[0]
    task = entities.tasks.get(node.task_node.reference_id.name)
    if task is None or task.type != "container_array" or task.task_type_version != 1:
        kind = task.type if task is not None else "missing"
        raise Unsupported(
            f"its node is a {kind} task, not a legacy map task (container_array version 1)"
        )
    inputs: dict[str, Any] = {}
    for name, parameter in plan.spec.default_inputs.parameters.items():
        entry: dict[str, Any] = {"type": type_name(parameter.var.type)}
        if parameter.HasField("default"):
            entry["default"] = to_value(parameter.default)
        if parameter.var.description and parameter.var.description != name:
            entry["description"] = parameter.var.description
        inputs[name] = entry
    bindings: dict[str, str] = {}
    for binding in node.inputs:
        promise = binding.binding.promise if binding.binding.HasField("promise") else None
        if promise is None or promise.var not in inputs:
            raise Unsupported(f"map input {binding.var} is not bound to a workflow input")
        bindings[binding.var] = promise.var
    task_inputs = task.interface.inputs.variables
    over = [
        bindings[name]
        for name in task_inputs
        if task_inputs[name].type.WhichOneof("type") == "collection_type"
    ]
    if not over:
        raise Unsupported("the map task has no list input")
    from google.protobuf.json_format import MessageToDict

    custom = MessageToDict(task.custom) if task.HasField("custom") else {}
    container = task.container
    resources, notes = _resources(container, task.id.name)
    spec_task: dict[str, Any] = {
        "image": container.image,
        "command": list(container.command) + list(container.args),
        "retries": min(9, task.metadata.retries.retries),
        "env": {e.key: e.value for e in container.env},
        **resources,
    }
    timeout = task.metadata.timeout.seconds
    if timeout:
        spec_task["timeout"] = max(limits.MIN_TIMEOUT_SECONDS, timeout)
        if timeout < limits.MIN_TIMEOUT_SECONDS:
            notes.append(
                f"task.timeout: the task's {timeout}s is below AWS Batch's minimum, so "
                f"{limits.MIN_TIMEOUT_SECONDS}s is used"
            )
    return {
        "project": project,
        "domain": domain,
        "name": plan.id.name,
        "version": version,
        "workflow": workflow_name,
        "description": f"Flyte launch plan {plan.id.name} (map task {task.id.name})",
        "inputs": inputs,
        "map": {"over": over, "minSuccessRatio": float(custom.get("minSuccessRatio", 1.0))},
        "task": spec_task,
        "flyte": {
            "taskTemplate": base64.b64encode(task.SerializeToString()).decode(),
            "taskName": task.id.name,
            "bindings": bindings,
            **({"notes": notes} if notes else {}),
        },
    }


def launch_plans(
    paths: list[Path], project: str | None, domain: str | None, version: str | None
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """(specs of the launch plans batchmap can run, [(name, why not)] for the others)."""
    missing = [
        flag
        for flag, value in (("-p", project), ("-d", domain), ("--version", version))
        if not value
    ]
    if missing:
        raise InvalidInputError(
            f"registering Flyte packages needs {', '.join(missing)}, as flytectl register "
            "files does"
        )
    entities = read(paths)
    specs, skipped = [], []
    for plan in entities.launch_plans:
        try:
            specs.append(convert(plan, entities, str(project), str(domain), str(version)))
        except Unsupported as exc:
            skipped.append((plan.id.name, str(exc)))
    return specs, skipped
