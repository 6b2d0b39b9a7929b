"""batchmap's cache folder: ``$XDG_CACHE_HOME/batchmap``, default ``~/.cache/batchmap``.

What is kept there, each part in its own folder, may be deleted at any time:
``config/`` (config checks, config/cache.py), ``checks/`` (exec-file schema checks,
files/checked.py) and ``bootstrap/`` (the child's program, runtime/bootstrap.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def cache_root(environ: Mapping[str, str], home: Path) -> Path:
    base = environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else home / ".cache") / "batchmap"
