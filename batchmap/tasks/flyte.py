"""A flytekit map task: flytekit's own ``pyflyte-map-execute`` runs in each child, unchanged.

The command and environment are FlytePropeller's (``batchmap.flyte.command``); the
inputs are one ``inputs.pb`` for the whole map (flytekit takes element ``[index]`` of
each list itself); each child writes ``<outputPrefix>/<index>/outputs.pb`` or
``error.pb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from batchmap.backends.base import Child
from batchmap.errors import InvalidInputError
from batchmap.executions.manifest import Manifest
from batchmap.files.store import BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.tasks.base import ChildSpec, Staged, Target


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

    def notes(self, launch_plan: LaunchPlan, backend: str) -> list[str]:
        # What registration changed to fit AWS (e.g. 500m CPU rounded up to 1 vCPU).
        notes = [str(n) for n in (launch_plan.flyte or {}).get("notes", [])]
        if backend == "local":
            notes.append(
                "local backend: flytekit's pyflyte-map-execute runs from this folder; "
                "the task's module must be importable here"
            )
        return notes

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

        key = f"{manifest.prefix}/{OUTPUTS}/{index}/outputs.pb"
        data = store.get(key)
        if data is None:
            return None, False
        try:  # written by the child's flytekit: a task may have written anything there
            outputs = read_literal_map(data)
        except Exception as exc:
            raise InvalidInputError(
                f"{store.uri(key)}: not a readable Flyte output ({type(exc).__name__})"
            ) from None
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
                    try:  # written by the child: a damaged one keeps the backend's reason
                        child = replace(child, reason=read_error(data) or child.reason)
                    except Exception:
                        child = replace(child, reason=f"{child.reason} (error.pb unreadable)")
            out.append(child)
        return out
