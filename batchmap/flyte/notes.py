"""What a flytekit map task asks for that batchmap does not apply, said in words.

``register files`` shows these notes for every launch plan it registers, and
``create execution`` (``--dryRun`` too) for the backend it runs on. They come
from the facts kept in the launch plan (its ``flyte:`` block and task), so the
two always agree. ``check_backend`` refuses, before any side effect, what a
backend cannot run at all.
"""

from __future__ import annotations

from typing import Any

from batchmap.errors import InvalidInputError
from batchmap.flyte.package import ARRAYNODE, secret_env, secret_label

AWS, LOCAL = "aws", "local"


def launch_plan_notes(plan: Any, backend: str | None = None) -> list[str]:
    """Notes for a launch plan; ``backend`` None: for registration (either backend)."""
    flyte = plan.flyte or {}
    # What registration changed to fit AWS Batch (e.g. 500m CPU rounded up to 1 vCPU).
    notes: list[str] = [str(n) for n in flyte.get("notes", [])]
    cache = flyte.get("cache")
    if cache:
        notes.append(
            f"cache=True (cache_version {cache.get('version') or '?'}) is not applied: batchmap "
            "has no cache, so every child runs"
        )
    if plan.task.interruptible:
        if backend == LOCAL:
            notes.append("interruptible: no effect on the local backend")
        else:
            notes.append(
                "interruptible: on AWS Batch, children stopped by a spot reclaim ('Host EC2*') "
                "are retried; the queue's compute environments decide whether spot is used"
            )
    for request in flyte.get("secretRequests") or []:
        label, env = secret_label(request), secret_env(request)
        if env in plan.task.secrets:
            if backend == LOCAL:
                notes.append(
                    f"secret {label}: mapped to {plan.task.secrets[env]}, which the local "
                    f"backend does not resolve ({env} is not set)"
                )
        else:
            notes.append(
                f"secret {label} is not applied: no aws.secrets entry maps it to an ARN, so "
                f"{env} is not set and flytekit will not find it"
            )
    concurrency = plan.map.concurrency
    if concurrency and backend != LOCAL:
        where = "" if backend == AWS else "applied by the local backend; "
        notes.append(
            f"concurrency {concurrency}: {where}not applied on AWS Batch, where the queue's "
            "compute environments bound how many children run at once"
        )
    if flyte.get("kind") == ARRAYNODE and backend != LOCAL:
        notes.append(
            "flytekit's map_task (an ArrayNode) runs on the local backend; on AWS Batch its "
            "children need their own output prefixes, which batchmap does not give them yet"
        )
    return notes


def check_backend(plan: Any, backend: str) -> None:
    """Refuse, before anything is staged, a launch plan this backend cannot run."""
    flyte = plan.flyte or {}
    if flyte.get("kind") == ARRAYNODE and backend == AWS:
        raise InvalidInputError(
            f"launch plan {plan.name} is a flytekit map_task (ArrayNode), which batchmap does "
            "not run on AWS Batch yet: each child needs its own output prefix",
            hint="run it with --backend local, or package it with flytekit's "
            "legacy_map_task.map_task",
        )
