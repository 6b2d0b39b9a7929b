"""Relaunch: re-run only some children of an execution (its failed ones, or chosen indexes).

AWS Batch can only re-run a whole array. A relaunch is a new execution whose
array holds just the chosen children; an index map stored with it sends
position ``p`` to the original index, so each child's item, ``{{ index }}`` and
``outputs/INDEX.json`` are the original's. A relaunch of a relaunch maps
straight to the first execution (the root), whose ``--outputs`` merge every
relaunch: the latest successful output of each index wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from batchmap.backends.base import ChildQuery
from batchmap.errors import InvalidInputError
from batchmap.executions.model import ExecutionPlan, Manifest, check_name, generate_name
from batchmap.launchplans.model import LaunchPlan


def root_size(manifest: Manifest) -> int:
    return int(manifest.data.get("rootSize") or manifest.size)


def choose_indexes(
    manifest: Manifest, backend: Any, *, failed: bool, indexes: Iterable[int]
) -> list[int]:
    """Original indexes to re-run: the failed children and/or the given ones."""
    if manifest.data.get("flyteRun"):
        raise InvalidInputError(
            "relaunch does not support flytekit map tasks yet: pyflyte-map-execute takes its "
            "index from the array alone, so a child cannot keep its original index",
            hint="re-run the whole execution with create execution",
        )
    chosen = set(indexes)
    allowed = set(manifest.data.get("indexMap") or range(manifest.size))
    outside = sorted(chosen - allowed)
    if outside:
        raise InvalidInputError(
            f"--index {outside[0]} is not a child of execution {manifest.name!r}"
            + (
                " (a relaunch holds only the indexes it re-ran)"
                if manifest.data.get("indexMap")
                else f" (0-{manifest.size - 1})"
            )
        )
    if failed:
        query = ChildQuery(statuses=frozenset({"FAILED"}), limit=None)
        chosen.update(child.index for child in backend.children(manifest, query))
    return sorted(chosen)


def plan(manifest: Manifest, indexes: list[int], name: str | None = None) -> ExecutionPlan:
    """The relaunch's plan, from the original's manifest (same launch plan, role, queue)."""
    data = manifest.data
    launch_plan = LaunchPlan.from_spec(data["launchPlanSpec"])
    root = data.get("root") or manifest.name
    queue = data.get("queue") or {}
    return ExecutionPlan(
        name=check_name(name) if name else generate_name(),
        project=manifest.project,
        domain=manifest.domain,
        plan=launch_plan,
        values={},
        size=len(indexes),
        envs=dict(data.get("envs") or {}),
        backend=manifest.backend,
        iam_role_arn=data.get("iamRoleARN"),
        kube_service_account=data.get("kubeServiceAcct"),
        queue=queue.get("name"),
        relaunch={
            "of": manifest.name,
            "root": root,
            "rootPrefix": f"{manifest.project}/{manifest.domain}/{root}",
            "indexes": indexes,
        },
    )
