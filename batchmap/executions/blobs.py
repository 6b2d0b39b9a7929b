"""Files and directories given as inputs, staged as Flyte stages them.

A ``file`` or ``directory`` input (flytekit's ``FlyteFile``/``FlyteDirectory``)
holds a local path or a URI. URIs (``s3://...``) pass through unchanged. Local
paths are checked when the exec file is read — relative ones are taken from
the exec file's folder — and then, like ``pyflyte run`` does:

- on the local backend they stay where they are (as absolute paths), since
  the children run on the same machine;
- on AWS Batch each is uploaded to the execution's storage
  (``PROJECT/DOMAIN/EXECUTION/blobs/N/NAME``) and its ``s3://`` URI is what
  the children get. ``remote`` plans this without touching anything (``--dryRun``
  shows it), ``upload`` does it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchmap.launchplans.inputs import BLOBS, InputType

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
BLOB_PREFIX = "blobs"


@dataclass(frozen=True)
class Upload:
    """One local file or directory to copy to the execution's storage."""

    input: str  # the input's field path, e.g. files[2]
    source: str  # absolute local path
    key: str  # store key (a folder's prefix for a directory)
    uri: str
    directory: bool

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "from": self.source, "to": self.uri}


def has_blobs(t: InputType) -> bool:
    return t.kind in BLOBS or (t.item is not None and has_blobs(t.item))


def _walk(
    t: InputType, value: Any, path: tuple[str | int, ...], fix: Callable[[str, str, tuple], Any]
) -> Any:
    """``value`` with every blob leaf replaced by ``fix(kind, leaf, path)``."""
    if t.kind == "list" and isinstance(value, list):
        assert t.item is not None
        return [_walk(t.item, v, (*path, i), fix) for i, v in enumerate(value)]
    if t.kind == "optional" and value is not None:
        assert t.item is not None
        return _walk(t.item, value, path, fix)
    if t.kind in BLOBS and isinstance(value, str):
        return fix(t.kind, value, path)
    return value


def _label(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def local_paths(
    types: Mapping[str, InputType], values: Mapping[str, Any], base: Path
) -> tuple[dict[str, Any], list[tuple[tuple[str | int, ...], str]]]:
    """(values with local paths made absolute, [(field path, what is wrong)])."""
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def fix(kind: str, value: str, path: tuple[str | int, ...]) -> str:
        if URI.match(value):
            return value
        local = (base / Path(value).expanduser()).resolve()
        ok = local.is_dir() if kind == "directory" else local.is_file()
        if not ok:
            what = "folder" if kind == "directory" else "file"
            found = " (it is a folder)" if local.is_dir() else ""
            found = " (it is a file)" if kind == "directory" and local.is_file() else found
            problems.append((path, f"no such {what}: {local}{found}"))
        return str(local)

    out = dict(values)
    for name, t in types.items():
        if name in values and has_blobs(t):
            out[name] = _walk(t, values[name], (name,), fix)
    return out, problems


def remote(
    types: Mapping[str, InputType],
    values: Mapping[str, Any],
    prefix: str,
    uri: Callable[[str], str],
) -> tuple[dict[str, Any], list[Upload]]:
    """(values with local paths replaced by storage URIs, the uploads that makes)."""
    uploads: dict[str, Upload] = {}

    def fix(kind: str, value: str, path: tuple[str | int, ...]) -> str:
        if URI.match(value):
            return value
        if value not in uploads:
            key = f"{prefix}/{BLOB_PREFIX}/{len(uploads)}/{Path(value).name or 'root'}"
            uploads[value] = Upload(_label(path), value, key, uri(key), kind == "directory")
        return uploads[value].uri

    out = dict(values)
    for name, t in types.items():
        if name in values and has_blobs(t):
            out[name] = _walk(t, values[name], (name,), fix)
    return out, list(uploads.values())


def _files(upload: Upload) -> Iterator[tuple[Path, str]]:
    source = Path(upload.source)
    if not upload.directory:
        yield source, upload.key
        return
    for path in sorted(source.rglob("*")):
        if path.is_file():
            yield path, f"{upload.key}/{path.relative_to(source).as_posix()}"


def upload(store: Any, uploads: list[Upload]) -> int:
    """Copy every planned upload into the store; the number of objects written."""
    written = 0
    for item in uploads:
        for path, key in _files(item):
            with path.open("rb") as stream:
                store.put_stream(key, stream)
            written += 1
    return written
