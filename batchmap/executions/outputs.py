"""Gather the children's outputs in index order.

A relaunched execution's outputs are merged into its root's: for each index the
latest successful output wins, and the execution that produced it is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from batchmap.executions.manifest import Manifest
from batchmap.files.store import BlobStore
from batchmap.tasks import kind_of


def gather(
    store: BlobStore, family: Sequence[Manifest], *, workers: int = 16
) -> tuple[list[Any], list[str | None]]:
    """(values, producers): one value per child of the root execution (``family[0]``, then
    its relaunches, oldest first), None where no execution of the family wrote one, and
    the name of the execution that did."""
    root = family[0]
    size = root.size
    values: list[Any] = [None] * size
    producers: list[str | None] = [None] * size
    kind = kind_of(root.launch_plan)

    def read(job: tuple[Manifest, int]) -> tuple[int, Any, bool]:
        execution, index = job
        value, found = kind.output(store, execution, index)
        return index, value, found

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for execution in reversed(family):  # the latest relaunch first
            todo = [(execution, i) for i in execution.indexes if producers[i] is None]
            for index, value, found in pool.map(read, todo):
                if found:
                    values[index], producers[index] = value, execution.name
    return values, producers
