"""A flytekit map task: flytekit's own ``pyflyte-map-execute`` runs in each child, unchanged.

Both of flytekit's kinds — the legacy map task (``container_array``) and the ArrayNode
map task (``flytekit.map_task``; ``flyte.kind: arraynode``) — are this one task kind: they
differ in how a child's output prefix is given and in which of Propeller's rules says a
child failed (``batchmap.flyte.command``). The command and environment are FlytePropeller's;
it runs as it is in batchmap's child, which labels its log, gives it its original index and
attempt, and fails a child that left an ``error.pb``. The inputs are one ``inputs.pb`` for
the whole map (flytekit takes element ``[index]`` of each mapped input itself); each child
ends at ``<outputPrefix>/<index>/outputs.pb`` or ``error.pb``. A relaunch reads its root's
``inputs.pb`` and maps its positions to the original indexes (``flyte/indexmap.bin``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from batchmap.errors import InvalidInputError
from batchmap.files.store import BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.runtime.child import INDEX_ENTRY
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
        return None  # both kinds run on both backends

    def stage(
        self, store: BlobStore, prefix: str, launch_plan: LaunchPlan, values: Mapping[str, Any]
    ) -> Staged:
        from batchmap.flyte.command import INPUTS, inputs_pb

        data = inputs_pb(launch_plan, values)
        store.put(f"{prefix}/{INPUTS}", data)
        size = len(values[launch_plan.map.over[0]])
        return Staged(store.uri(f"{prefix}/{INPUTS}"), size, len(data))

    def relaunch_child(self, store: BlobStore, manifest: Manifest, target: Target) -> ChildSpec:
        """The map task rendered for the relaunch (its name, its outputs) over the root's
        ``inputs.pb``, with the positions' original indexes in ``flyte/indexmap.bin``."""
        from batchmap.flyte.command import INDEX_MAP_FILE, INPUTS, render
        from batchmap.flyte.literals import read_literal_map

        root = f"{manifest.project}/{manifest.domain}/{manifest.root}"
        data = store.get(f"{root}/{INPUTS}")
        if data is None:
            raise InvalidInputError(f"the inputs of {root} are gone from the store")
        rendered = render(
            manifest.launch_plan,
            {},
            target,
            inputs=store.location(f"{root}/{INPUTS}"),
            broadcast=read_literal_map(data),
            index_map=f"{target.base}/{INDEX_MAP_FILE}",
        )
        env = {**manifest.launch_plan.task.env, **rendered["env"]}
        return ChildSpec(
            tuple(rendered["command"]), env, templated=False, attempt_var="FLYTE_ATTEMPT_NUMBER"
        )

    def stage_relaunch(
        self, store: BlobStore, prefix: str, root: Manifest, indexes: Sequence[int]
    ) -> Staged:
        """The index map the relaunch's child reads (its inputs are the root's)."""
        from batchmap.flyte.command import INDEX_MAP_FILE, INPUTS

        data = b"".join(INDEX_ENTRY.pack(i) for i in indexes)
        store.put(f"{prefix}/{INDEX_MAP_FILE}", data)
        return Staged(store.uri(f"{root.prefix}/{INPUTS}"), len(indexes), len(data))

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
