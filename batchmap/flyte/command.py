"""A flytekit map task's container, rendered the way FlytePropeller renders it.

The command and arguments of the task template carry Propeller's placeholders
(``{{.input}}``, ``{{.outputPrefix}}``, ...; case-insensitive, ``.`` or ``$``);
the environment is Propeller's (``FLYTE_INTERNAL_EXECUTION_*``,
``FLYTE_INTERNAL_TASK_*``, ``FLYTE_ATTEMPT_NUMBER``, ``FLYTE_FAIL_ON_ERROR=true``;
flytek8s' ``DecorateEnvVars``). Each child then runs ``pyflyte-map-execute``
unchanged, in batchmap's child (runtime/child.py, as a command run as is): it
reads the whole ``inputs.pb`` and takes element ``[index]`` of each mapped input.

Where a child writes differs by kind. A legacy map task's resolver appends the
index itself (``<outputPrefix>/<index>/outputs.pb``). An ArrayNode child writes
to the prefix it is given, and Propeller gives each sub-node its own
(``<outputDir>/<index>/<attempt>``), so its ``--output-prefix`` carries
``INDEX_MARK``, which batchmap's child fills: both kinds end at
``flyte/outputs/<index>/outputs.pb`` (or ``error.pb``), where the child looks
once the command exits 0 (``FLYTE_OUTCOME``: Propeller's rule for the kind).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from batchmap.errors import InvalidInputError
from batchmap.flyte.literals import literal_map
from batchmap.runtime.child import (
    FLYTE_OUTCOME,
    FLYTE_OUTPUTS,
    INDEX_MAP,
    INDEX_MARK,
    INDEX_OWN_VAR,
)

PLACEHOLDER = re.compile(r"\{\{\s*[.$]([A-Za-z]+)(?:\.([A-Za-z0-9_]+))?\s*\}\}")
INPUTS = "flyte/inputs.pb"
OUTPUTS = "flyte/outputs"
INDEX_MAP_FILE = "flyte/indexmap.bin"
ARRAYNODE = "arraynode"
# What Propeller sets for an ArrayNode's children (flytepropeller nodes/array/execution_context.go)
ARRAY_NODE_INDEX_VAR = "FLYTE_K8S_ARRAY_INDEX"


def template(flyte: dict[str, Any]) -> Any:
    from flyteidl.core import tasks_pb2

    task = tasks_pb2.TaskTemplate()
    try:
        task.ParseFromString(base64.b64decode(flyte["taskTemplate"], validate=True))
    except Exception as exc:  # binascii.Error, protobuf's DecodeError, a missing key
        raise InvalidInputError(
            f"the registered Flyte task {flyte.get('taskName')!r} is unreadable "
            f"({type(exc).__name__})",
            hint="register the pyflyte package again under a new --version",
        ) from None
    return task


def render(
    launch_plan: Any,
    values: Any,
    target: Any,
    *,
    inputs: str | None = None,
    broadcast: Any = None,
    index_map: str | None = None,
) -> dict[str, Any]:
    """Command and environment of every child of ``target`` (its name, project, domain and
    ``base``: the execution's folder or URI). A relaunch reads its root's ``inputs``
    (``broadcast``: their values by task input) and maps positions through ``index_map``."""
    flyte = launch_plan.flyte
    task = template(flyte)
    per_child = flyte.get("kind") == ARRAYNODE
    base = target.base
    paths = {
        "input": inputs or f"{base}/{INPUTS}",
        "inputprefix": f"{base}/flyte",
        "outputprefix": f"{base}/{OUTPUTS}" + (f"/{INDEX_MARK}" if per_child else ""),
        "rawoutputdataprefix": f"{base}/flyte/raw",
        "checkpointoutputprefix": f"{base}/flyte/checkpoints",
        "prevcheckpointprefix": '""',
        "perretryuniquekey": target.name,
        "tasktemplatepath": "",
        "namespace": f"{target.project}-{target.domain}",
    }
    if broadcast is None:
        broadcast = {
            task_input: values.get(wf_input) for task_input, wf_input in flyte["bindings"].items()
        }

    def fill(match: re.Match[str]) -> str:
        name, field = match.group(1).lower(), match.group(2)
        if name == "inputs" and field:
            return str(broadcast.get(field, ""))
        return str(paths.get(name, match.group(0)))

    command = [
        PLACEHOLDER.sub(fill, arg) for arg in [*task.container.command, *task.container.args]
    ]
    env = {e.key: e.value for e in task.container.env}
    env.update(
        {
            # Propeller's workflow id: the workflow's project:domain:name (WorkflowIDAsString)
            "FLYTE_INTERNAL_EXECUTION_WORKFLOW": (
                f"{launch_plan.project}:{launch_plan.domain}:{launch_plan.workflow}"
            ),
            "FLYTE_INTERNAL_EXECUTION_ID": target.name,
            "FLYTE_INTERNAL_EXECUTION_PROJECT": target.project,
            "FLYTE_INTERNAL_EXECUTION_DOMAIN": target.domain,
            "FLYTE_ATTEMPT_NUMBER": "0",  # batchmap's child sets each attempt's
            "FLYTE_INTERNAL_TASK_PROJECT": launch_plan.project,
            "FLYTE_INTERNAL_TASK_DOMAIN": launch_plan.domain,
            "FLYTE_INTERNAL_TASK_NAME": flyte["taskName"],
            "FLYTE_INTERNAL_TASK_VERSION": launch_plan.version,
            "FLYTE_FAIL_ON_ERROR": "true",
        }
    )
    # What batchmap's child needs (runtime/env.py): where the child's outputs.pb and error.pb
    # are, and which of Propeller's rules decides a child that exited 0 — the aws_array
    # plugin's for a legacy map task, the task node's for an ArrayNode's children.
    env[FLYTE_OUTPUTS] = f"{base}/{OUTPUTS}/{INDEX_MARK}"
    if per_child:
        declared = bool(task.interface.outputs.variables)
        env[FLYTE_OUTCOME] = "task-outputs" if declared else "task"
        env[INDEX_OWN_VAR] = ARRAY_NODE_INDEX_VAR
    else:
        env[FLYTE_OUTCOME] = "array"
    if index_map:
        env[INDEX_MAP] = index_map
    return {
        "command": command,
        "env": dict(sorted(env.items())),
        "inputs": paths["input"],
        "outputPrefix": f"{base}/{OUTPUTS}",
        **({"perChildOutputPrefix": True} if per_child else {}),
    }


def inputs_pb(launch_plan: Any, values: Any) -> bytes:
    """The map task's ``inputs.pb``: its own input names (from the workflow's bindings),
    each literal of the type the task template declares, so flytekit reads it back."""
    variables = template(launch_plan.flyte).interface.inputs.variables
    return literal_map(
        {
            task_input: (values[wf_input], variables[task_input].type)
            for task_input, wf_input in launch_plan.flyte["bindings"].items()
        }
    )
