"""YAML files people edit: load them safely, keep where every value was.

Files are read into plain data (dict, list, str, int, float, bool, None) by a
fast builder over libyaml's events (``yamlevents``), or, for documents with
anything more (tags, anchors, timestamps, ...), by ruamel's safe loader, which
never builds Python objects from tags; tags it would keep as opaque values are
refused. Positions let every error name the file, the field path and the line;
they are found from the events only once a problem is reported. Documents are
walked with a budget so that alias bombs and absurd nesting end in one clear
error instead of a hang or a ``RecursionError``. Files batchmap writes back
(``config init``, exec files) are written with ruamel's round-trip dumper.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from batchmap.errors import InvalidInputError, Problem
from batchmap.files.yamlevents import (
    MAX_DEPTH,
    MAX_NODES,
    EventPositions,
    TooLarge,
    Unsupported,
    build_all,
)

PathPart = str | int
_STANDARD_TAGS = {
    None,
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


def format_path(path: Sequence[PathPart]) -> str:
    """``("queues", "workflowConfigs", 2, "tags")`` → ``queues.workflowConfigs[2].tags``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class YamlDocument:
    """One YAML document: plain data plus (lazily) the positions of its nodes."""

    source: str
    data: Any
    positions: EventPositions | None = None
    index: int = 0

    @property
    def first_line(self) -> int:
        line = self.positions.root_line(self.index) if self.positions is not None else None
        return line or 1

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """Line (1-based) of the deepest node on ``path`` that exists."""
        if self.positions is None:
            return None
        return self.positions.line_of(self.index, path)

    def problem(self, path: Sequence[PathPart], message: str, **kw: Any) -> Problem:
        return Problem(
            message, file=self.source, path=format_path(path), line=self.line_of(path), **kw
        )


@cache
def _text_timestamps(base: Any) -> Any:
    """``base`` (a ruamel constructor class) reading YAML timestamps as the text written:
    ``2024-01-01 10:00:00`` stays itself (never rewritten to ISO form) and an impossible
    date such as ``2024-02-30`` is just text, which the schema judges like any other."""

    class TextTimestamps(base):  # type: ignore[misc,valid-type]
        pass

    TextTimestamps.add_constructor("tag:yaml.org,2002:timestamp", base.construct_yaml_str)
    return TextTimestamps


def read_text(path: Path) -> str:
    """Read a file as UTF-8, with a located error for anything else."""
    from batchmap.files.safe import read_bytes

    raw = read_bytes(path, what="a YAML file")  # regular files only, size capped
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None


def _mark_problem(exc: Exception, source: str, text: str = "") -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    what = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {what}"
    tag = re.search(r"constructor for the tag '([^']*)'", str(what))
    if tag:
        message = f"YAML tag '{tag.group(1)}' is not allowed (batchmap reads plain YAML only)"
    elif context and "duplicate" in str(context).lower():
        message = f"invalid YAML: {context.strip()}"
    hint = None
    lines = text.splitlines() or [""]
    source_line = lines[min(line, len(lines)) - 1] if line else ""
    if "\\t" in str(what) or "tab" in str(what).lower() or "\t" in source_line[:1]:
        hint = "indent with spaces, not tabs"
    elif line is not None and "[" in str(what) and re.search(r"\{[^}]*\w\[", source_line):
        hint = 'inside { } quote values with brackets: type: "list[int]"'
    elif line is not None and "':'" in str(what) and re.search(r"\{[^}]*\w:/", source_line):
        hint = 'inside { } quote values with "://": {fromFile: "s3://bucket/items.jsonl"}'
    return Problem(message, file=source, line=line, hint=hint)


def _fast_yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    yaml = YAML(typ="safe", pure=False)  # libyaml's parser when ruamel.yaml.clib is there
    yaml.Constructor = _text_timestamps(SafeConstructor)
    yaml.allow_duplicate_keys = False
    return yaml


def load_documents(text: str, source: str) -> list[YamlDocument]:
    """Parse every document of a YAML stream; raise one located error if it is not YAML.

    The fast builder (``yamlevents``) reads what batchmap's files hold; a document with
    anything else (tags, anchors, timestamps, ...) is read by ruamel's safe loader, so
    values and errors are the same either way.
    """
    positions = EventPositions(text)
    try:
        trees = build_all(text)
        fast = True
    except Unsupported:
        trees, fast = _load_with_ruamel(text, source), False
    except TooLarge as exc:
        doc = YamlDocument(source, None, positions, exc.index)
        raise _walk_problem(doc, exc.path, _too_large()) from None
    except Exception as exc:
        raise _yaml_error(exc, source, text) from None
    docs = []
    for index, tree in enumerate(trees):
        doc = YamlDocument(source, None, positions, index)
        doc.data = tree if fast else _to_plain(tree, doc)
        docs.append(doc)
    return docs


def _load_with_ruamel(text: str, source: str) -> list[Any]:
    try:
        return list(_fast_yaml().load_all(text))
    except Exception as exc:
        raise _yaml_error(exc, source, text) from None


def _yaml_error(exc: Exception, source: str, text: str) -> Exception:
    if isinstance(exc, RecursionError):
        return InvalidInputError(f"{source}: invalid YAML: nesting too deep", problems=())
    if not exc.__class__.__module__.startswith("ruamel"):
        return exc
    problem = _mark_problem(exc, source, text)
    return InvalidInputError(f"{source}: not valid YAML", problems=[problem])


def _too_large() -> str:
    return f"document too large (over {MAX_NODES:,} values after expanding aliases)"


def load_document(text: str, source: str) -> YamlDocument:
    """Parse a stream that must hold exactly one document (an empty file is ``{}``)."""
    docs = [d for d in load_documents(text, source) if d.data is not None]
    if not docs:
        return YamlDocument(source, {})
    if len(docs) > 1:
        raise InvalidInputError(
            f"{source}: holds {len(docs)} YAML documents, expected one",
            hint="remove the extra '---' separators",
        )
    return docs[0]


def load_file(path: Path) -> YamlDocument:
    return load_document(read_text(path), str(path))


def _walk_problem(doc: YamlDocument, path: list[PathPart], message: str) -> InvalidInputError:
    problem = doc.problem(path, message)
    return InvalidInputError(f"{doc.source}: not usable", problems=[problem])


def _tag_of(node: Any) -> str | None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag)
    return value if isinstance(value, str) else None


def _to_plain(tree: Any, doc: YamlDocument) -> Any:
    """Copy the round-trip tree into plain dict/list/scalars, checking budget and tags.

    Aliases are copied (they are values like any other), which is exactly what
    makes a "billion laughs" document explode; the node budget stops that early.
    """
    budget = [MAX_NODES]

    def convert(node: Any, path: list[PathPart]) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _walk_problem(doc, path[:1], _too_large())
        if len(path) > MAX_DEPTH:
            raise _walk_problem(doc, path, f"nested deeper than {MAX_DEPTH} levels")
        tag = _tag_of(node)
        if tag not in _STANDARD_TAGS:
            raise _walk_problem(doc, path, f"YAML tag {tag!r} is not allowed")
        if isinstance(node, Mapping):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if not isinstance(key, str):
                    if isinstance(key, bool) or key is None or isinstance(key, int | float):
                        key = str(key).lower() if isinstance(key, bool) else str(key)
                    else:
                        raise _walk_problem(doc, path, "mapping keys must be plain scalars")
                out[key] = convert(value, [*path, key])
            return out
        if isinstance(node, list):
            return [convert(item, [*path, i]) for i, item in enumerate(node)]
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            if not math.isfinite(node):  # .nan, .inf: no setting or input means them
                raise _walk_problem(doc, path, f"{node} is not a finite number")
            return float(node)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, _dt.datetime | _dt.date):  # only from a caller's own tree
            return node.isoformat()
        raise _walk_problem(doc, path, f"unsupported YAML value of type {type(node).__name__}")

    try:
        return convert(tree, [])
    except RecursionError:
        raise _walk_problem(doc, [], "nested too deeply") from None
