"""A document that passed its JSON Schema is not checked against it again until it changes.

Checking an exec file against its schema means importing jsonschema and walking the
document: about a fifth of a quick ``create execution``'s own time. A check that found
nothing is remembered in ``$XDG_CACHE_HOME/batchmap/checks/`` (default
``~/.cache/batchmap``), one small file per document path and schema, holding the SHA-256
of what was checked (the data as loaded, in canonical JSON), the schema's name and
batchmap's version. Other data, another schema or another batchmap misses and is checked
again; a document with any schema problem is never remembered (its problems are reported
every time). Every other check (input types, launch plan, IAM) runs every time: only the
schema walk is skipped. Entries are written atomically and may be deleted at any time; a
cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from batchmap import __version__
from batchmap.errors import StorageWriteError
from batchmap.files.cachedir import entry


def fingerprint(schema: str, data: Any) -> str | None:
    """What identifies a check of ``data`` against ``schema`` (None for data JSON cannot
    give back exactly, such as YAML dates: those are always checked)."""
    try:
        text = json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or json.loads(text) != data:
        return None
    return hashlib.sha256(f"{__version__}\0{schema}\0{text}".encode()).hexdigest()


def _entry(folder: Path, document: Path, schema: str) -> Path:
    return entry(folder, document, schema, ".sha256")


def passed(folder: Path | None, document: Path, schema: str, print_: str | None) -> bool:
    """Whether exactly this check passed before."""
    if folder is None or print_ is None:
        return False
    try:
        return _entry(folder, document, schema).read_text("ascii") == print_
    except (OSError, ValueError):
        return False


def remember(folder: Path | None, document: Path, schema: str, print_: str | None) -> None:
    """Remember a check that found nothing (best effort: a failure only costs a re-check)."""
    if folder is None or print_ is None:
        return
    from batchmap.files.atomic import atomic_write_text

    try:
        atomic_write_text(_entry(folder, document, schema), print_, mode=0o600)
    except (OSError, ValueError, StorageWriteError):
        return
