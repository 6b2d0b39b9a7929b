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
    if not isinstance(data, dict) or not _given_back(data):
        return None
    return hashlib.sha256(f"{__version__}\0{schema}\0{text}".encode()).hexdigest()


def _given_back(data: Any) -> bool:
    """Whether JSON gives ``data`` back as it is, once ``json.dumps`` took it (no date, NaN
    or set, which it refuses): unless a mapping has a key that is not a string (``1`` and
    ``"1"`` become the same key) or a tuple stands for a list. A walk, not a round trip:
    decoding a million-item exec file again held a second copy of it (30 MB more)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if not all(type(key) is str for key in value):
                return False
            stack.extend(v for v in value.values() if isinstance(v, dict | list | tuple))
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, dict | list | tuple))
        else:
            return False  # a tuple
    return True


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
