"""batchmap's cache folder: ``$XDG_CACHE_HOME/batchmap``, default ``~/.cache/batchmap``.

What is kept there, each part in its own folder, may be deleted at any time:
``config/`` (config checks, config/cache.py), ``checks/`` (exec-file schema checks,
files/checked.py), ``bootstrap/`` (the child's program, runtime/bootstrap.py) and
``models/`` (botocore's service models without their documentation, aws/models.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path


def cache_root(environ: Mapping[str, str], home: Path) -> Path:
    base = environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else home / ".cache") / "batchmap"


def entry(folder: Path, document: Path, kind: str, suffix: str) -> Path:
    """The one entry a cache part keeps for ``document`` (by its resolved path) and
    ``kind`` (the backend a config was checked for, the schema an exec file was)."""
    name = hashlib.sha256(f"{document.resolve()}\0{kind}".encode()).hexdigest()[:32]
    return folder / f"{name}{suffix}"
