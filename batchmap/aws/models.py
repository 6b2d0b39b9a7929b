"""botocore's model loader, without two costs every command paid for nothing.

Building a run's first client, botocore lists every service it knows before it loads a
model (about 430 folders: 900 ``listdir`` and 2,800 ``stat`` calls, twice, ~22 ms), only
to name them in an ``UnknownServiceError`` (boto/botocore#3687 drops it upstream). This
loader looks up the service asked for first and lists them all only when it is not
found, so that error is still botocore's own.

A service model is mostly documentation: S3's is 1.4 MB of JSON, 0.23 MB without it,
and decoding it took 18 ms of a `get execution` (Batch's 6 ms). With a cache folder,
the loader keeps each service model it loads with its documentation removed (nothing
else: every shape, member, operation and setting stays as it is) in
``$XDG_CACHE_HOME/batchmap/models/BOTOCORE_VERSION/``, one file per model file botocore
would have read, naming it (its path, size and modification time), and reads that next
time (S3: 4 ms); compressed data files (the endpoint rule sets) are kept decompressed. A
custom model (``AWS_DATA_PATH``, ``~/.aws/models``) is found and kept the same way.
An entry is used only if it is a regular file of this user's in folders no one else can
write to (an endpoint rule set says where signed requests go), names its file and holds a
whole model; otherwise it is made again. Writing one drops what was not written for 30
days (entries of earlier installs, other botocore versions' folders: two installs that
share a cache do not drop each other's). Entries are written atomically and may be
deleted at any time; a cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, create_loader, instance_cache
from botocore.loaders import Loader as BotocoreLoader

FORMAT = 1
DOCUMENTATION = ("documentation", "documentationUrl")
MODEL = "service-2"  # the file name (no extension) of a service model
VERSION = re.compile(r"\d+\.\d+\.\d+")  # a folder of one botocore version's entries
SERVICE = re.compile(r"[a-z0-9][a-z0-9-]*")  # a service's name (and folder) in botocore
MAX_ENTRY = 32 << 20  # bytes: larger than anything botocore ships (ec2's model: 5 MB)
STALE = 30 * 86400  # seconds: entries and version folders not written for this long go


def _refs(model: dict[str, Any]) -> Iterator[Any]:
    """Every part of a service model that may carry documentation: the model, its
    operations and their shape references, its shapes and theirs (never a map of member
    names, where a member may be called "documentation")."""
    yield model
    for operation in (model.get("operations") or {}).values():
        yield operation
        for part in ("input", "output"):
            if isinstance(operation.get(part), dict):
                yield operation[part]
        yield from (e for e in operation.get("errors") or () if isinstance(e, dict))
    for shape in (model.get("shapes") or {}).values():
        yield shape
        yield from (m for m in (shape.get("members") or {}).values() if isinstance(m, dict))
        for part in ("member", "key", "value"):
            if isinstance(shape.get(part), dict):
                yield shape[part]


def without_documentation(model: dict[str, Any]) -> dict[str, Any]:
    """The model with the documentation of the model, its operations, shapes and shape
    references removed, in place; every other key and value untouched."""
    for part in _refs(model):
        if isinstance(part, dict):
            for key in DOCUMENTATION:
                part.pop(key, None)
    return model


class DataFiles(JSONFileLoader):
    """botocore's JSON file loader (the same files, ``.json`` before ``.json.gz``), decoding
    into plain dicts (botocore asks for ``OrderedDict``s, which every dict is now: half
    the time for its 1.3 MB ``endpoints.json``); with a cache folder, service models
    without their documentation and compressed files decompressed, kept there."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._trusted: dict[Path, bool] = {}  # a version folder and its parent, once a run

    def _private(self, folder: Path) -> bool:
        """The version folder and the models folder above it are this user's alone."""
        if folder not in self._trusted:
            self._trusted[folder] = _private(folder.parent) and _private(folder)
        return self._trusted[folder]

    def load_file(self, file_path: str) -> Any:
        for source in (Path(file_path + ".json"), Path(file_path + ".json.gz")):
            try:
                found = source.stat()
            except OSError:
                continue
            if stat.S_ISREG(found.st_mode):
                return self._load(source, found, source.name.startswith(f"{MODEL}.json"))
        return None

    def _load(self, source: Path, found: os.stat_result, model: bool) -> Any:
        gzipped = source.suffix == ".gz"
        origin = [str(source), found.st_size, found.st_mtime_ns]
        entry = self._entry(origin) if model or gzipped else None
        if entry is not None:
            kept = self._recall(entry)
            same = (
                isinstance(kept, dict)
                and kept.get("format") == FORMAT
                and kept.get("origin") == origin
            )
            if same and _whole(kept.get("data"), model):  # type: ignore[union-attr]
                return kept["data"]  # type: ignore[index]
        data = json.loads(gzip.decompress(source.read_bytes()) if gzipped else source.read_bytes())
        if model and isinstance(data, dict):
            without_documentation(data)
        if entry is not None and _whole(data, model):
            self._keep(entry, {"format": FORMAT, "origin": origin, "data": data})
        return data

    def _entry(self, origin: list[Any]) -> Path | None:
        """Where the file at ``origin`` is kept (its path may hold any bytes)."""
        if self.folder is None:
            return None
        key = "\0".join(map(str, (FORMAT, *origin))).encode("utf-8", "surrogateescape")
        return self.folder / botocore.__version__ / f"{hashlib.sha256(key).hexdigest()[:32]}.json"

    def _recall(self, entry: Path) -> Any:
        """An entry's content, or None: only a regular file of this user's, of a sane size,
        in folders nobody else can write to (an entry says where requests go), read
        without following a link or waiting on a FIFO, and decoded without failing."""
        try:
            if not self._private(entry.parent):
                return None
            fd = os.open(entry, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY:
                    return None
                if info.st_uid != os.geteuid():
                    return None
                return json.loads(handle.read())
        except (OSError, ValueError, RecursionError, MemoryError):
            return None

    @staticmethod
    def _keep(entry: Path, kept: dict[str, Any]) -> None:
        """Keep an entry (best effort), and drop what was not written for ``STALE``
        seconds: entries of earlier installs, folders of other botocore versions."""
        from batchmap.errors import StorageWriteError
        from batchmap.files.atomic import atomic_write_text

        with contextlib.suppress(OSError, ValueError, StorageWriteError):
            atomic_write_text(entry, json.dumps(kept, separators=(",", ":")), mode=0o600)
            now = time.time()
            for old in entry.parent.iterdir():  # entries of earlier installs
                if old.suffix == ".json" and old != entry and _stale(old, now):
                    old.unlink()
            for other in entry.parent.parent.iterdir():  # other botocore versions
                if VERSION.fullmatch(other.name) and other != entry.parent and _stale(other, now):
                    shutil.rmtree(other, ignore_errors=True)


def _stale(path: Path, now: float) -> bool:
    """Not written for ``STALE`` seconds (never a link: what it points at is not ours)."""
    return not path.is_symlink() and now - path.stat().st_mtime > STALE


def _private(folder: Path) -> bool:
    """A folder of this user's that no one else can write to."""
    info = folder.stat()
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _whole(data: Any, model: bool) -> bool:
    """Whether a data file decoded as one botocore reads: an object; a service model's
    with its metadata, operations and shapes."""
    if not isinstance(data, dict):
        return False
    return not model or all(
        isinstance(data.get(k), dict) for k in ("metadata", "operations", "shapes")
    )


class Loader(BotocoreLoader):
    """botocore's loader; a known service's model loaded without listing every service."""

    @instance_cache
    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        if api_version is not None or not SERVICE.fullmatch(service_name):
            return super().load_service_model(service_name, type_name, api_version)
        try:
            version = self.determine_latest_version(service_name, type_name)
        except DataNotFoundError:  # unknown here: botocore's own error, naming the known
            return super().load_service_model(service_name, type_name, api_version)
        model = self.load_data(f"{service_name}/{version}/{type_name}")
        self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
        return model


def session(folder: Path | None) -> Any:
    """A botocore session whose model loader is ``Loader``, on the search paths botocore's
    own ``create_loader`` gives (``AWS_DATA_PATH`` first), made on first use as botocore
    makes its own; service models through ``folder`` when given."""
    import botocore.session

    made = botocore.session.Session()

    def loader() -> Loader:
        data_path = made.get_config_variable("data_path")
        return Loader(
            extra_search_paths=list(create_loader(data_path).search_paths),
            file_loader=DataFiles(folder),
            include_default_search_paths=False,  # already in botocore's list
        )

    made.lazy_register_component("data_loader", loader)
    return made
