"""A flytekit map task's container, rendered the way FlytePropeller renders it.

The command and arguments of the task template carry Propeller's placeholders
(``{{.input}}``, ``{{.outputPrefix}}``, ...; case-insensitive, ``.`` or ``$``);
the environment is Propeller's (``FLYTE_INTERNAL_EXECUTION_*``,
``FLYTE_FAIL_ON_ERROR=true``, ``BATCH_JOB_ARRAY_INDEX_VAR_NAME``). Each child
then runs ``pyflyte-map-execute`` unchanged: it reads the whole ``inputs.pb``
and takes element ``[index]`` of each mapped input.

Where a child writes differs by kind. A legacy map task's resolver appends the
index itself (``<outputPrefix>/<index>/outputs.pb``). An ArrayNode child writes
to the prefix it is given, and Propeller gives each sub-node its own
(``<outputDir>/<index>/<attempt>``), so its ``--output-prefix`` carries
``INDEX_MARK``, which ``child_command`` fills per child: both kinds end at
``flyte/outputs/<index>/outputs.pb`` (or ``error.pb``).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from batchmap.flyte.literals import literal_map

PLACEHOLDER = re.compile(r"\{\{\s*[.$]([A-Za-z]+)(?:\.([A-Za-z0-9_]+))?\s*\}\}")
INPUTS = "flyte/inputs.pb"
OUTPUTS = "flyte/outputs"
INDEX_MARK = "{{batchmap.index}}"
ARRAYNODE = "arraynode"


def template(flyte: dict[str, Any]) -> Any:
    from flyteidl.core import tasks_pb2

    task = tasks_pb2.TaskTemplate()
    task.ParseFromString(base64.b64decode(flyte["taskTemplate"]))
    return task


def render(plan: Any, base: str) -> dict[str, Any]:
    """Command and environment of every child; ``base`` is the execution's folder or URI."""
    flyte = plan.plan.flyte
    task = template(flyte)
    per_child = flyte.get("kind") == ARRAYNODE
    paths = {
        "input": f"{base}/{INPUTS}",
        "inputprefix": f"{base}/flyte",
        "outputprefix": f"{base}/{OUTPUTS}" + (f"/{INDEX_MARK}" if per_child else ""),
        "rawoutputdataprefix": f"{base}/flyte/raw",
        "checkpointoutputprefix": f"{base}/flyte/checkpoints",
        "prevcheckpointprefix": '""',
        "perretryuniquekey": plan.name,
        "tasktemplatepath": "",
        "namespace": f"{plan.project}-{plan.domain}",
    }
    broadcast = {
        task_input: plan.values.get(wf_input) for task_input, wf_input in flyte["bindings"].items()
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
            "FLYTE_INTERNAL_EXECUTION_ID": plan.name,
            "FLYTE_INTERNAL_EXECUTION_PROJECT": plan.project,
            "FLYTE_INTERNAL_EXECUTION_DOMAIN": plan.domain,
            "FLYTE_ATTEMPT_NUMBER": "0",
            "FLYTE_INTERNAL_TASK_PROJECT": plan.plan.project,
            "FLYTE_INTERNAL_TASK_DOMAIN": plan.plan.domain,
            "FLYTE_INTERNAL_TASK_NAME": flyte["taskName"],
            "FLYTE_INTERNAL_TASK_VERSION": plan.plan.version,
            "FLYTE_FAIL_ON_ERROR": "true",
        }
    )
    return {
        "command": command,
        "env": dict(sorted(env.items())),
        "inputs": paths["input"],
        "outputPrefix": f"{base}/{OUTPUTS}",
        **({"perChildOutputPrefix": True} if per_child else {}),
    }


def child_command(flyte_run: dict[str, Any], index: int) -> list[str]:
    """Child ``index``'s command: an ArrayNode child's own output prefix filled in."""
    return [arg.replace(INDEX_MARK, str(index)) for arg in flyte_run["command"]]


def inputs_pb(plan: Any) -> bytes:
    """The map task's ``inputs.pb``: its own input names (from the workflow's bindings),
    each literal of the type the task template declares, so flytekit reads it back."""
    variables = template(plan.plan.flyte).interface.inputs.variables
    return literal_map(
        {
            task_input: (plan.values[wf_input], variables[task_input].type)
            for task_input, wf_input in plan.plan.flyte["bindings"].items()
        }
    )


def with_error_reasons(store: Any, manifest: Any, children: list[Any]) -> list[Any]:
    """Failed children of a flytekit map task, with their ``error.pb`` message as reason."""
    from dataclasses import replace

    from batchmap.flyte.literals import read_error

    out = []
    for child in children:
        if child.status == "FAILED":
            data = store.get(f"{manifest.prefix}/{OUTPUTS}/{child.index}/error.pb")
            if data is not None:
                child = replace(child, reason=read_error(data) or child.reason)
        out.append(child)
    return out
