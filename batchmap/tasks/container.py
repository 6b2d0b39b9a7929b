"""A container task: any image; batchmap's child runtime fills the command template."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from batchmap.files.store import BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.tasks import staging
from batchmap.tasks.base import ChildSpec, Staged, Target

if TYPE_CHECKING:
    from batchmap.backends.base import Child
    from batchmap.executions.manifest import Manifest


class ContainerTask:
    name = "container"

    def child(
        self, launch_plan: LaunchPlan, values: Mapping[str, Any], target: Target
    ) -> ChildSpec:
        return ChildSpec(launch_plan.task.command, dict(launch_plan.task.env), templated=True)

    def notes(self, launch_plan: LaunchPlan, backend: str | None) -> list[str]:
        from batchmap.flyte.notes import launch_plan_notes

        return launch_plan_notes(launch_plan, backend)  # concurrency, interruptible

    def check_backend(self, launch_plan: LaunchPlan, backend: str) -> None:
        return None

    def stage(
        self, store: BlobStore, prefix: str, launch_plan: LaunchPlan, values: Mapping[str, Any]
    ) -> Staged:
        return staging.stage(store, prefix, launch_plan, values)

    def relaunch_problem(self) -> str | None:
        return None

    def stage_relaunch(
        self, store: BlobStore, prefix: str, root: Manifest, indexes: Sequence[int]
    ) -> Staged:
        return staging.stage_relaunch(store, prefix, root.prefix, list(indexes))

    def output(self, store: BlobStore, manifest: Manifest, index: int) -> tuple[Any, bool]:
        data = store.get(f"{manifest.prefix}/outputs/{index}.json")
        return (json.loads(data), True) if data is not None else (None, False)

    def explain(self, store: BlobStore, manifest: Manifest, children: list[Child]) -> list[Child]:
        return children
