"""Shell completion of launch-plan names, execution names and ``--status`` values.

Completion runs on every Tab: it reads the local registry and store folders
directly (the config file for where they are, nothing validated, no AWS call) and
never raises; an ``s3://`` store or registry completes nothing rather than wait on
the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def complete_status(incomplete: str) -> list[str]:
    """``FA`` -> FAILED; ``FAILED,RU`` -> FAILED,RUNNING (the comma-separated form)."""
    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [prefix + s for s in STATUSES if s.startswith(last.upper())]


def _location(ctx: Any, key: str) -> Path | None:
    """The local folder of ``storage`` or ``registry``, as the CLI would resolve it."""
    from batchmap.config.loader import ENV_PREFIX, _expand, find_config_file

    environ = os.environ
    home = Path(environ.get("HOME") or Path.home())
    value = environ.get(f"{ENV_PREFIX}{key.upper()}")
    if not value:
        root = ctx.find_root()
        path, _ = find_config_file(root.params.get("config"), environ, Path.cwd(), home)
        if path is not None:
            from ruamel.yaml import YAML

            data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
            value = data.get(key) if isinstance(data, dict) else None
    value = str(value or f"~/.batchmap/{'store' if key == 'storage' else key}")
    if "://" in value and not value.startswith("file://"):
        return None  # s3://: not worth a network call on every Tab
    return _expand(value.removeprefix("file://"), home, Path.cwd())


def _project_domain(ctx: Any) -> tuple[str, str] | None:
    project = ctx.params.get("project") or os.environ.get("BATCHMAP_PROJECT")
    domain = ctx.params.get("domain") or os.environ.get("BATCHMAP_DOMAIN")
    return (str(project), str(domain)) if project and domain else None


def _names(ctx: Any, key: str, below: str, marker: str, incomplete: str) -> list[str]:
    try:
        where = _project_domain(ctx)
        base = _location(ctx, key)
        if where is None or base is None:
            return []
        folder = base.joinpath(*where, below) if below else base.joinpath(*where)
        return sorted(
            entry.name
            for entry in folder.iterdir()
            if entry.name.startswith(incomplete) and (not marker or (entry / marker).exists())
        )
    except Exception:  # completion must never break a shell
        return []


def complete_execution(ctx: Any, incomplete: str) -> list[str]:
    """Execution names of ``-p``/``-d`` in the local store."""
    return _names(ctx, "storage", "", "execution.json", incomplete)


def complete_launchplan(ctx: Any, incomplete: str) -> list[str]:
    """Launch plan names of ``-p``/``-d`` in the local registry."""
    return _names(ctx, "registry", "launchplans", "", incomplete)
