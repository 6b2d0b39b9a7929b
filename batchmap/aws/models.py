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
custom model (``AWS_DATA_PATH``, ``~/.aws/models``) is found and kept the same way. An
entry that does not name its file, or is not a whole model, is made again; writing one
drops the folders of other botocore versions. Entries are written atomically and may be
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
        entry, origin = None, [str(source), found.st_size, found.st_mtime_ns]
        if self.folder is not None and (model or gzipped):
            key = "\0".join(map(str, (FORMAT, *origin)))
            name = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
            entry = self.folder / botocore.__version__ / name
            with contextlib.suppress(OSError, ValueError):
                kept = json.loads(entry.read_bytes())
                same = (
                    isinstance(kept, dict)
                    and kept.get("format") == FORMAT
                    and kept.get("origin") == origin
                )
                if same and _whole(kept.get("data"), model):
                    return kept["data"]
        data = json.loads(gzip.decompress(source.read_bytes()) if gzipped else source.read_bytes())
        if model and isinstance(data, dict):
            without_documentation(data)
        if entry is not None and _whole(data, model):
            self._keep(entry, {"format": FORMAT, "origin": origin, "data": data})
        return data

    def _keep(self, entry: Path, kept: dict[str, Any]) -> None:
        """Keep an entry (best effort), and drop the folders of other botocore versions."""
        from batchmap.errors import StorageWriteError
        from batchmap.files.atomic import atomic_write_text

        with contextlib.suppress(OSError, ValueError, StorageWriteError):
            atomic_write_text(entry, json.dumps(kept, separators=(",", ":")), mode=0o600)
            for other in entry.parent.parent.iterdir():
                old = other.name != entry.parent.name and VERSION.fullmatch(other.name)
                if old and other.is_dir() and not other.is_symlink():
                    shutil.rmtree(other, ignore_errors=True)


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
        try:
            version = api_version or self.determine_latest_version(service_name, type_name)
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
