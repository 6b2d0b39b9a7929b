"""A container task: any image; batchmap's child runtime fills the command template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from batchmap.errors import InvalidInputError, Problem
from batchmap.files.safe import strict_json
from batchmap.files.store import BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.runtime import oslimits
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
        if values:  # a relaunch reuses its root's items, checked when the root was made
            _check_items(launch_plan, values)
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

    def relaunch_child(self, store: BlobStore, manifest: Manifest, target: Target) -> ChildSpec:
        return manifest.child  # the staged inputs.json carries the index map

    def stage_relaunch(
        self, store: BlobStore, prefix: str, root: Manifest, indexes: Sequence[int]
    ) -> Staged:
        return staging.stage_relaunch(store, prefix, root.prefix, list(indexes))

    def output(self, store: BlobStore, manifest: Manifest, index: int) -> tuple[Any, bool]:
        key = f"{manifest.prefix}/outputs/{index}.json"
        data = store.get(key)
        if data is None:
            return None, False
        try:  # the runtime stores JSON only: anything else was damaged after the child
            return strict_json(data), True
        except ValueError as exc:
            raise InvalidInputError(
                f"{store.uri(key)}: not a readable output ({exc})",
                hint=f"relaunch child {index} to write it again, or delete the file",
            ) from None

    def explain(self, store: BlobStore, manifest: Manifest, children: list[Child]) -> list[Child]:
        return children


def _check_items(launch_plan: LaunchPlan, values: Mapping[str, Any]) -> None:
    """Refuse, before anything is staged, items no child could be started with (a NUL byte
    in an argument, an argument over the system's limit): each would fail every attempt."""
    over = launch_plan.map.over

    def label(index: int) -> str:
        return "/".join(f"inputs.{name}[{index}]" for name in over)

    problems = oslimits.line_problems(
        launch_plan.task.command,
        staging.item_lines(launch_plan, values),
        staging.broadcast(launch_plan, values),
        label=label,
    )
    if problems:
        raise InvalidInputError(
            f"{len(problems)} item{'s' if len(problems) > 1 else ''} cannot reach a program",
            hint="pass large or binary items through a file (an input holding its path)",
            problems=[Problem(line) for line in problems],
        )
