"""Gather the children's outputs (``outputs/INDEX.json``) in index order."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from batchmap.executions import Manifest
from batchmap.storage import BlobStore


def gather(store: BlobStore, manifest: Manifest, *, workers: int = 16) -> list[Any]:
    """One value per child; None where a child wrote no output (failed, or nothing written)."""

    def read(index: int) -> Any:
        data = store.get(f"{manifest.prefix}/outputs/{index}.json")
        return json.loads(data) if data is not None else None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read, range(manifest.size)))
