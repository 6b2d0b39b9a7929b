"""Task kinds: what a child runs, how its inputs are staged, and how its result is read.

Three kinds share one interface (``base.TaskKind``): a container task (any image,
batchmap's child runtime fills the command template), flytekit's legacy map task
and flytekit's ArrayNode map task (flytekit's own ``pyflyte-map-execute`` runs
unchanged). The rest of batchmap asks ``kind_of(launch_plan)`` and never which kind
it got.
"""

from __future__ import annotations

from batchmap.launchplans.model import LaunchPlan
from batchmap.tasks.base import TaskKind


def kind_of(launch_plan: LaunchPlan) -> TaskKind:
    if launch_plan.flyte:
        from batchmap.tasks.flyte import FlyteMapTask

        return FlyteMapTask()
    from batchmap.tasks.container import ContainerTask

    return ContainerTask()
