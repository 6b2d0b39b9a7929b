"""A config file is checked once per change, not on every command.

Loading a config means parsing its YAML, validating it against its JSON Schema and
running the cross-field checks: most of a quick command's own work. A valid config's
result (its data, its warnings and the lines of the settings ``config show`` cites) is
kept in ``$XDG_CACHE_HOME/batchmap/config/`` (default ``~/.cache/batchmap``), one file
per config path, keyed by the SHA-256 of the file's bytes, batchmap's version and the
backend the checks assumed. A changed file, another batchmap or another ``--backend``
misses and is checked again; an invalid config is never cached (its errors are reported
every time). Entries are written atomically and may be deleted at any time; a cache
that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchmap import __version__
from batchmap.errors import Problem
from batchmap.files.cachedir import cache_root, entry

FORMAT = 1


@dataclass(frozen=True)
class Checked:
    """What checking a valid config file found: its data, its warnings, and the line of
    each setting that ``config show`` cites (dotted path → line)."""

    data: dict[str, Any]
    warnings: tuple[Problem, ...]
    lines: Mapping[str, int]


def cache_dir(environ: Mapping[str, str], home: Path) -> Path:
    return cache_root(environ, home) / "config"


def _entry_path(folder: Path, config: Path, backend: str | None) -> Path:
    return entry(folder, config, backend or "", ".json")


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def load(folder: Path, config: Path, content: bytes, backend: str | None) -> Checked | None:
    """The remembered check of exactly this content, or None."""
    try:
        entry = json.loads(_entry_path(folder, config, backend).read_bytes())
        if (
            entry.get("format") != FORMAT
            or entry.get("version") != __version__
            or entry.get("sha256") != _digest(content)
        ):
            return None
        warnings = tuple(Problem(**p) for p in entry["warnings"])
        return Checked(dict(entry["data"]), warnings, dict(entry["lines"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(
    folder: Path, config: Path, content: bytes, backend: str | None, checked: Checked
) -> None:
    """Remember a valid config's check (best effort: a failure only costs a re-check)."""
    from batchmap.files.atomic import atomic_write_text

    try:
        text = json.dumps(checked.data, sort_keys=True, allow_nan=False)
        if json.loads(text) != checked.data:
            return  # e.g. YAML dates or non-string keys: JSON would not give them back
        entry = {
            "format": FORMAT,
            "version": __version__,
            "sha256": _digest(content),
            "data": checked.data,
            "warnings": [
                {
                    "message": p.message,
                    "file": p.file,
                    "path": p.path,
                    "line": p.line,
                    "hint": p.hint,
                    "warning": p.warning,
                }
                for p in checked.warnings
            ],
            "lines": dict(checked.lines),
        }
        atomic_write_text(_entry_path(folder, config, backend), json.dumps(entry), mode=0o600)
    except (OSError, TypeError, ValueError):
        return
