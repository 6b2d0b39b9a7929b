"""Gather the children's outputs (``outputs/INDEX.json``) in index order.

A relaunched execution's outputs are merged into its root's: for each index the
latest successful output wins, and the execution that produced it is named.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from batchmap.executions.model import Manifest, load
from batchmap.files.store import BlobStore


def gather(
    store: BlobStore, manifest: Manifest, *, workers: int = 16
) -> tuple[list[Any], list[str | None]]:
    """(values, producers): one value per child of the root execution, None where no
    execution of the family wrote one, and the name of the execution that did."""
    root = (
        manifest
        if not manifest.data.get("root")
        else load(store, manifest.project, manifest.domain, manifest.data["root"])
    )
    family = [root] + [
        load(store, root.project, root.domain, name) for name in root.data.get("relaunches", [])
    ]
    size = root.size
    values: list[Any] = [None] * size
    producers: list[str | None] = [None] * size

    def read(job: tuple[Manifest, int]) -> tuple[int, Any, bool]:
        execution, index = job
        if execution.data.get("flyteRun"):  # flytekit writes <prefix>/<index>/outputs.pb
            from batchmap.flyte.command import OUTPUTS
            from batchmap.flyte.literals import read_literal_map

            data = store.get(f"{execution.prefix}/{OUTPUTS}/{index}/outputs.pb")
            if data is None:
                return index, None, False
            outputs = read_literal_map(data)
            return index, outputs.get("o0") if len(outputs) == 1 else outputs, True
        data = store.get(f"{execution.prefix}/outputs/{index}.json")
        return index, json.loads(data) if data is not None else None, data is not None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for execution in reversed(family):  # the latest relaunch first
            wanted = execution.data.get("indexMap") or range(size)
            todo = [(execution, i) for i in wanted if producers[i] is None]
            for index, value, found in pool.map(read, todo):
                if found:
                    values[index], producers[index] = value, execution.name
    return values, producers
