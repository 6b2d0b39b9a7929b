"""flytekit workflows for the run side's tests (tests/flyte/test_flyte_run.py,
tests/e2e/test_flyte_server.py), packaged by ``pyflyte package`` in the tests.

Each map exists in both of flytekit's kinds: ``flytekit.map_task`` (an ArrayNode) and the
legacy ``map_task`` (an AWS Batch array in Flyte). ``square`` fails for a negative number
unless ``ALLOW_NEGATIVE`` is set (what a relaunch fixed); ``environment`` reports the
variables Propeller gives a child.
"""

import json
import os

from flytekit import map_task, task, workflow
from flytekit.core import legacy_map_task

# What Propeller sets for a map task's children (and flytekit reads).
SEEN = (
    "FLYTE_INTERNAL_EXECUTION_WORKFLOW",
    "FLYTE_INTERNAL_EXECUTION_ID",
    "FLYTE_INTERNAL_EXECUTION_PROJECT",
    "FLYTE_INTERNAL_EXECUTION_DOMAIN",
    "FLYTE_INTERNAL_TASK_PROJECT",
    "FLYTE_INTERNAL_TASK_DOMAIN",
    "FLYTE_INTERNAL_TASK_NAME",
    "FLYTE_INTERNAL_TASK_VERSION",
    "FLYTE_ATTEMPT_NUMBER",
    "FLYTE_FAIL_ON_ERROR",
    "BATCH_JOB_ARRAY_INDEX_VAR_NAME",
    "BATCH_JOB_ARRAY_INDEX_OFFSET",
    "FLYTE_K8S_ARRAY_INDEX",
)


@task
def square(x: int) -> int:
    print(f"squaring {x}")
    if x < 0 and not os.environ.get("ALLOW_NEGATIVE"):
        raise ValueError(f"no negative numbers here: {x}")
    return x * x


# Flyte takes literal defaults (it serializes them): a mutable default is the idiom here.
@workflow
def squares(xs: list[int] = [1, 2, 3]) -> list[int | None]:  # noqa: B006
    return map_task(square, min_success_ratio=0.5)(x=xs)


@workflow
def legacy_squares(xs: list[int] = [1, 2, 3]) -> list[int | None]:  # noqa: B006
    return legacy_map_task.map_task(square, min_success_ratio=0.5)(x=xs)


@task
def environment(x: int) -> str:
    return json.dumps({"x": x, **{name: os.environ.get(name) for name in SEEN}})


@workflow
def environments(xs: list[int] = [0, 1]) -> list[str]:  # noqa: B006
    return map_task(environment)(x=xs)


@workflow
def legacy_environments(xs: list[int] = [0, 1]) -> list[str]:  # noqa: B006
    return legacy_map_task.map_task(environment)(x=xs)
