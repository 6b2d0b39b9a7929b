"""A flytekit map task's container, rendered the way FlytePropeller renders it.

The command and arguments of the task template carry Propeller's placeholders
(``{{.input}}``, ``{{.outputPrefix}}``, ...; case-insensitive, ``.`` or ``$``);
the environment is Propeller's (``FLYTE_INTERNAL_EXECUTION_*``,
``FLYTE_FAIL_ON_ERROR=true``, ``BATCH_JOB_ARRAY_INDEX_VAR_NAME``). Each child
then runs ``pyflyte-map-execute`` unchanged: it reads the whole ``inputs.pb``,
takes element ``[index]`` of each list input and writes
``<outputPrefix>/<index>/outputs.pb`` (or ``error.pb``).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from batchmap.errors import InvalidInputError
from batchmap.flyte.literals import literal_map

PLACEHOLDER = re.compile(r"\{\{\s*[.$]([A-Za-z]+)(?:\.([A-Za-z0-9_]+))?\s*\}\}")
INPUTS = "flyte/inputs.pb"
OUTPUTS = "flyte/outputs"


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


def render(launch_plan: Any, values: Any, target: Any) -> dict[str, Any]:
    """Command and environment of every child of ``target`` (its name, project, domain and
    ``base``: the execution's folder or URI)."""
    flyte = launch_plan.flyte
    task = template(flyte)
    base = target.base
    paths = {
        "input": f"{base}/{INPUTS}",
        "inputprefix": f"{base}/flyte",
        "outputprefix": f"{base}/{OUTPUTS}",
        "rawoutputdataprefix": f"{base}/flyte/raw",
        "checkpointoutputprefix": f"{base}/flyte/checkpoints",
        "prevcheckpointprefix": '""',
        "perretryuniquekey": target.name,
        "tasktemplatepath": "",
        "namespace": f"{target.project}-{target.domain}",
    }
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
            "FLYTE_INTERNAL_EXECUTION_ID": target.name,
            "FLYTE_INTERNAL_EXECUTION_PROJECT": target.project,
            "FLYTE_INTERNAL_EXECUTION_DOMAIN": target.domain,
            "FLYTE_ATTEMPT_NUMBER": "0",
            "FLYTE_INTERNAL_TASK_PROJECT": launch_plan.project,
            "FLYTE_INTERNAL_TASK_DOMAIN": launch_plan.domain,
            "FLYTE_INTERNAL_TASK_NAME": flyte["taskName"],
            "FLYTE_INTERNAL_TASK_VERSION": launch_plan.version,
            "FLYTE_FAIL_ON_ERROR": "true",
        }
    )
    return {
        "command": command,
        "env": dict(sorted(env.items())),
        "inputs": paths["input"],
        "outputPrefix": paths["outputprefix"],
    }


def inputs_pb(launch_plan: Any, values: Any) -> bytes:
    """The map task's ``inputs.pb``: its own input names, from the workflow's bindings."""
    return literal_map(
        {
            task_input: (values[wf_input], str(launch_plan.inputs[wf_input].type))
            for task_input, wf_input in launch_plan.flyte["bindings"].items()
        }
    )
