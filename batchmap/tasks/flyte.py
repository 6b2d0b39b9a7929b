"""A flytekit map task: flytekit's own ``pyflyte-map-execute`` runs in each child, unchanged.

Both of flytekit's kinds — the legacy map task (``container_array``) and the ArrayNode
map task (``flytekit.map_task``; ``flyte.kind: arraynode``) — are this one task kind: they
differ only in how a child's output prefix is given (``batchmap.flyte.command``). The
command and environment are FlytePropeller's; the inputs are one ``inputs.pb`` for the
whole map (flytekit takes element ``[index]`` of each mapped input itself); each child
ends at ``<outputPrefix>/<index>/outputs.pb`` or ``error.pb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from batchmap.errors import InvalidInputError
from batchmap.files.store import BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.tasks.base import ChildSpec, Staged, Target

if TYPE_CHECKING:
    from batchmap.backends.base import Child
    from batchmap.executions.manifest import Manifest


class FlyteMapTask:
    name = "flyte-map"

    def child(
        self, launch_plan: LaunchPlan, values: Mapping[str, Any], target: Target
    ) -> ChildSpec:
        from batchmap.flyte.command import render

        rendered = render(launch_plan, values, target)
        env = {**launch_plan.task.env, **rendered["env"]}
        return ChildSpec(
            tuple(rendered["command"]), env, templated=False, attempt_var="FLYTE_ATTEMPT_NUMBER"
        )

    def notes(self, launch_plan: LaunchPlan, backend: str | None) -> list[str]:
        # What registration changed to fit AWS (e.g. 500m CPU rounded up to 1 vCPU), and
        # what the task asks that is not applied here (cache, secrets, concurrency, ...).
        from batchmap.flyte.notes import launch_plan_notes

        notes = launch_plan_notes(launch_plan, backend)
        if backend == "local":
            notes.append(
                "local backend: flytekit's pyflyte-map-execute runs from this folder; "
                "the task's module must be importable here"
            )
        return notes

    def check_backend(self, launch_plan: LaunchPlan, backend: str) -> None:
        from batchmap.flyte.notes import check_backend

        check_backend(launch_plan, backend)

    def stage(
        self, store: BlobStore, prefix: str, launch_plan: LaunchPlan, values: Mapping[str, Any]
    ) -> Staged:
        from batchmap.flyte.command import INPUTS, inputs_pb

        data = inputs_pb(launch_plan, values)
        store.put(f"{prefix}/{INPUTS}", data)
        size = len(values[launch_plan.map.over[0]])
        return Staged(store.uri(f"{prefix}/{INPUTS}"), size, len(data))

    def relaunch_problem(self) -> str | None:
        return (
            "relaunch does not support flytekit map tasks yet: pyflyte-map-execute takes its "
            "index from the array alone, so a child cannot keep its original index"
        )

    def stage_relaunch(
        self, store: BlobStore, prefix: str, root: Manifest, indexes: Sequence[int]
    ) -> Staged:
        raise InvalidInputError(self.relaunch_problem() or "")

    def output(self, store: BlobStore, manifest: Manifest, index: int) -> tuple[Any, bool]:
        from batchmap.flyte.command import OUTPUTS
        from batchmap.flyte.literals import read_literal_map

        data = store.get(f"{manifest.prefix}/{OUTPUTS}/{index}/outputs.pb")
        if data is None:
            return None, False
        outputs = read_literal_map(data)
        return (outputs.get("o0") if len(outputs) == 1 else outputs), True

    def explain(self, store: BlobStore, manifest: Manifest, children: list[Child]) -> list[Child]:
        """Failed children with their ``error.pb`` message as reason."""
        from batchmap.flyte.command import OUTPUTS
        from batchmap.flyte.literals import read_error

        out = []
        for child in children:
            if child.status == "FAILED":
                data = store.get(f"{manifest.prefix}/{OUTPUTS}/{child.index}/error.pb")
                if data is not None:
                    child = replace(child, reason=read_error(data) or child.reason)
            out.append(child)
        return out
