"""``pyflyte package`` output (a .tgz, or loose .pb files) as batchmap launch plans.

flytekit serializes each task as ``NN_<name>_1.pb`` (TaskSpec), each workflow
as ``_2.pb`` (WorkflowSpec) and each launch plan as ``_3.pb`` (LaunchPlan). A
launch plan batchmap can run is one whose workflow's only node is a map task,
of either kind flytekit makes:

- ``arraynode``: ``flytekit.map_task`` — an array node (``parallelism``,
  ``min_success_ratio``/``min_successes``, ``bound_inputs``) around a task node
  whose template runs ``pyflyte-map-execute`` with ``ArrayNodeMapTaskResolver``;
- ``legacy``: ``flytekit.core.legacy_map_task.map_task`` — a task node whose
  template is a ``container_array`` (version 1) with an ArrayJob ``custom``.

``PARSERS`` holds one function per kind; each returns a ``MapNode``. Inputs and
defaults come from ``spec.defaultInputs``, which workflow inputs feed the map
from the node's bindings, image, resources, retries, timeout, environment,
``interruptible``, cache and secret requests from the task template. What the
run side needs is kept in the launch plan's ``flyte:`` block. Values AWS Batch would
refuse are changed as FlytePropeller changes them (a fractional CPU rounded up to a whole
vCPU), each with a note kept in the launch plan's ``flyte.notes``, which ``register files``
and ``create execution`` show.
"""

from __future__ import annotations

import base64
import math
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchmap.aws import limits
from batchmap.errors import InvalidInputError
from batchmap.files.safe import PACKAGE_LIMIT, PROTOBUF_LIMIT, check_regular, read_bytes
from batchmap.flyte import require
from batchmap.flyte.literals import Unsupported, to_value, type_name

SUFFIXES = (".pb", ".tgz", ".tar.gz")
LEGACY, ARRAYNODE = "legacy", "arraynode"
KIND_WORDS = {LEGACY: "legacy map task", ARRAYNODE: "map task"}
SECRET_ENV_PREFIX = "_FSEC_"  # flytekit's SecretsConfig.env_prefix


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


@dataclass(frozen=True)
class MapNode:
    """A workflow's map node, whatever flytekit API made it: what the run side needs."""

    kind: str  # LEGACY or ARRAYNODE
    task: Any  # the TaskTemplate each child runs (pyflyte-map-execute)
    bindings: dict[str, str]  # task input -> workflow input
    mapped: list[str]  # task inputs each child takes one element of
    bound: list[str]  # task inputs every child takes whole
    min_success_ratio: float | None = None
    min_successes: int | None = None
    concurrency: int | None = None  # None: unbounded (Flyte: the workflow's parallelism)
    run_all_sub_nodes: bool = False


def _bindings(node: Any, workflow_inputs: Any) -> dict[str, str]:
    bindings: dict[str, str] = {}
    for binding in node.inputs:
        promise = binding.binding.promise if binding.binding.HasField("promise") else None
        if promise is None or promise.node_id or promise.var not in workflow_inputs:
            raise Unsupported(
                f"map input {binding.var} is not bound to a workflow input (a constant or "
                "another node's output)"
            )
        bindings[binding.var] = promise.var
    return bindings


def _task(entities: Entities, reference: Any) -> Any:
    task = entities.tasks.get(reference.name)
    if task is None:
        raise Unsupported(f"its map task {reference.name} is not in the files")
    return task


def _legacy_map(node: Any, entities: Entities, workflow_inputs: Any) -> MapNode:
    """``flytekit.core.legacy_map_task.map_task``: a task node whose task is a
    ``container_array`` (version 1); ``custom`` holds Propeller's ArrayJob."""
    from google.protobuf.json_format import MessageToDict

    task = _task(entities, node.task_node.reference_id)
    if task.type != "container_array" or task.task_type_version != 1:
        raise Unsupported(
            f"its only node runs task {task.id.name} ({task.type}), not a map task "
            "(flytekit's map_task or legacy_map_task.map_task)"
        )
    custom = MessageToDict(task.custom) if task.HasField("custom") else {}
    variables = task.interface.inputs.variables
    mapped = sorted(n for n in variables if variables[n].type.HasField("collection_type"))
    return MapNode(
        kind=LEGACY,
        task=task,
        bindings=_bindings(node, workflow_inputs),
        mapped=mapped,
        bound=sorted(n for n in variables if n not in mapped),
        min_success_ratio=custom.get("minSuccessRatio"),
        min_successes=int(custom["minSuccesses"]) if "minSuccesses" in custom else None,
        concurrency=int(custom.get("parallelism") or 0) or None,
    )


def _array_node_map(node: Any, entities: Entities, workflow_inputs: Any) -> MapNode:
    """``flytekit.map_task`` (flytekit's ArrayNode map task): an array node whose sub-node
    runs the map task's template; parallelism and success criteria sit on the node,
    bound inputs are listed there too."""
    array = node.array_node
    sub = array.node
    if not sub.HasField("task_node"):
        raise Unsupported(
            f"its array node maps over a {sub.WhichOneof('target') or 'missing'} "
            "(a launch plan or workflow); batchmap maps tasks"
        )
    task = _task(entities, sub.task_node.reference_id)
    variables = task.interface.inputs.variables
    bound = sorted(set(array.bound_inputs) & set(variables))
    mapped = sorted(n for n in variables if n not in bound)
    not_lists = [n for n in mapped if not variables[n].type.HasField("collection_type")]
    if not_lists:
        raise Unsupported(f"its array node maps over {', '.join(not_lists)}, which are not lists")
    criteria = array.WhichOneof("success_criteria")
    parallelism = array.parallelism if array.WhichOneof("parallelism_option") else None
    return MapNode(
        kind=ARRAYNODE,
        task=task,
        bindings=_bindings(node, workflow_inputs),
        mapped=mapped,
        bound=bound,
        min_success_ratio=array.min_success_ratio if criteria == "min_success_ratio" else None,
        min_successes=array.min_successes if criteria == "min_successes" else None,
        concurrency=parallelism or None,  # 0 is unbounded
        run_all_sub_nodes=array.run_all_sub_nodes,
    )


# One parser per kind of map node, by the node's target (flyteidl.core.Node.target).
PARSERS: dict[str, Callable[[Any, Entities, Any], MapNode]] = {
    "task_node": _legacy_map,
    "array_node": _array_node_map,
}


def map_node(workflow: Any, entities: Entities) -> MapNode:
    """The workflow's only node, as a map; Unsupported says why it is not one."""
    nodes = [n for n in workflow.nodes if n.id not in ("start-node", "end-node")]
    if len(nodes) != 1:
        names = ", ".join(f"{n.id} ({n.WhichOneof('target')})" for n in nodes[:4])
        raise Unsupported(
            f"its workflow has {len(nodes)} nodes ({names}); batchmap runs workflows whose "
            "only node is a map task"
        )
    node = nodes[0]
    target = node.WhichOneof("target")
    parser = PARSERS.get(target or "")
    if parser is None:
        raise Unsupported(f"its only node is a {target or 'empty'} node, not a map task")
    return parser(node, entities, workflow.interface.inputs.variables)


def _secret_requests(task: Any) -> list[dict[str, str]]:
    out = []
    for secret in task.security_context.secrets:
        request = {"group": secret.group}
        if secret.group_version:
            request["groupVersion"] = secret.group_version
        if secret.key:
            request["key"] = secret.key
        out.append(request)
    return out


def secret_env(request: Mapping[str, str]) -> str:
    """The variable flytekit's ``current_context().secrets.get`` reads first:
    ``_FSEC_`` + GROUP[_GROUPVERSION][_KEY], upper-cased."""
    parts = [request.get(k) for k in ("group", "groupVersion", "key")]
    return SECRET_ENV_PREFIX + "_".join(p.upper() for p in parts if p)


def secret_label(request: Mapping[str, str]) -> str:
    return "/".join(request[k] for k in ("group", "groupVersion", "key") if request.get(k))


def _cache(task: Any) -> dict[str, Any] | None:
    metadata = task.metadata
    if not metadata.discoverable:
        return None
    cache: dict[str, Any] = {"version": metadata.discovery_version}
    if metadata.cache_serializable:
        cache["serialize"] = True
    return cache


def convert(
    plan: Any,
    entities: Entities,
    project: str,
    domain: str,
    version: str,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A batchmap launch-plan spec (the file format) for one Flyte launch plan.

    ``secrets`` maps a Flyte secret (``group/key``, as ``secret_label``) to the ARN
    AWS Batch injects (the config's ``aws.secrets``)."""
    workflow_name = plan.spec.workflow_id.name
    workflow = entities.workflows.get(workflow_name)
    if workflow is None:
        raise Unsupported(f"its workflow {workflow_name} is not in the files")
    node = map_node(workflow, entities)
    task = node.task
    inputs: dict[str, Any] = {}
    for name, parameter in plan.spec.default_inputs.parameters.items():
        try:
            entry: dict[str, Any] = {"type": type_name(parameter.var.type)}
            if parameter.HasField("default"):
                entry["default"] = to_value(parameter.default)
        except Unsupported as exc:
            raise Unsupported(f"input {name}: {exc}") from None
        if parameter.var.description and parameter.var.description != name:
            entry["description"] = parameter.var.description
        inputs[name] = entry
    over = [node.bindings[name] for name in node.mapped if name in node.bindings]
    if not over:
        raise Unsupported("the map task has no list input fed by the workflow")
    container = task.container
    requests = _secret_requests(task)
    mapped_secrets = {
        secret_env(r): (secrets or {})[secret_label(r)]
        for r in requests
        if secret_label(r) in (secrets or {})
    }
    resources, notes = _resources(container, task.id.name)
    spec_task: dict[str, Any] = {
        "image": container.image,
        "command": list(container.command) + list(container.args),
        "retries": min(9, task.metadata.retries.retries),
        "env": {e.key: e.value for e in container.env},
        **resources,
    }
    if mapped_secrets:
        spec_task["secrets"] = mapped_secrets
    if task.metadata.interruptible:
        spec_task["interruptible"] = True
    timeout = task.metadata.timeout.seconds
    if timeout:
        spec_task["timeout"] = max(limits.MIN_TIMEOUT_SECONDS, timeout)
        if timeout < limits.MIN_TIMEOUT_SECONDS:
            notes.append(
                f"task.timeout: the task's {timeout}s is below AWS Batch's minimum, so "
                f"{limits.MIN_TIMEOUT_SECONDS}s is used"
            )
    map_spec: dict[str, Any] = {"over": over}
    if node.min_successes is not None:
        map_spec["minSuccesses"] = node.min_successes
    else:
        ratio = node.min_success_ratio
        map_spec["minSuccessRatio"] = float(1.0 if ratio is None else ratio)
    if node.concurrency:
        map_spec["concurrency"] = node.concurrency
    flyte: dict[str, Any] = {
        "kind": node.kind,
        "taskTemplate": base64.b64encode(task.SerializeToString()).decode(),
        "taskName": task.id.name,
        "bindings": node.bindings,
        "mapped": node.mapped,
        "bound": node.bound,
    }
    if notes:
        flyte["notes"] = notes
    if node.run_all_sub_nodes:
        flyte["runAllSubNodes"] = True
    if requests:
        flyte["secretRequests"] = requests
    cache = _cache(task)
    if cache:
        flyte["cache"] = cache
    return {
        "project": project,
        "domain": domain,
        "name": plan.id.name,
        "version": version,
        "workflow": workflow_name,
        "description": f"Flyte launch plan {plan.id.name} ({KIND_WORDS[node.kind]} {task.id.name})",
        "inputs": inputs,
        "map": map_spec,
        "task": spec_task,
        "flyte": flyte,
    }


def launch_plans(
    paths: list[Path],
    project: str | None,
    domain: str | None,
    version: str | None,
    secrets: Mapping[str, str] | None = None,
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
            specs.append(convert(plan, entities, str(project), str(domain), str(version), secrets))
        except Unsupported as exc:
            skipped.append((plan.id.name, str(exc)))
    return specs, skipped
