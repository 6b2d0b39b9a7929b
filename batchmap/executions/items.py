"""A list input's items from a file, an S3 object, an S3 prefix or stdin — at any size.

In an exec file a list input may name where its items are instead of holding them::

    inputs:
        numbers: {fromFile: items.jsonl}            # local (relative to the exec file) or s3://
        rows: {fromFile: s3://bucket/rows.csv, format: csv}
        images: {fromPrefix: "s3://bucket/photos/", suffix: ".jpg"}

and ``create execution --items NAME=PATH`` does the same from the command line.
``read`` reads such a source once, as a stream: every item is parsed, checked
against the list's element type and written as one compact JSON line to a
temporary spool file, so memory stays flat in the number of items and nothing
reaches the store before every item is checked. Problems name the file and the
line (``items.jsonl:3: not JSON``); the first 20 are reported, then a count.
Staging later copies the spool's lines; a dry run only reports its size.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from batchmap.aws.clients import aws_call
from batchmap.errors import AwsRefusedError, InvalidInputError, NotFoundError, Problem
from batchmap.files import itemfiles
from batchmap.files.schemas import describe
from batchmap.files.store import parse_s3_uri
from batchmap.files.yamldoc import format_path
from batchmap.launchplans.inputs import EXACT, InputType, check_value, coerce
from batchmap.tasks.staging import json_line

MAX_PROBLEMS = 20
SPEC_KEYS = {"fromFile": ("format",), "fromPrefix": ("suffix",)}
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
S3Getter = Callable[[], Any]


@dataclass(frozen=True)
class ItemsSpec:
    """Where a list's items are: ``kind`` file, prefix or stdin."""

    kind: str
    location: str  # an absolute path, s3://bucket/key, s3://bucket/prefix/, or "-"
    format: str | None = None  # files and stdin: txt, jsonl, json or csv
    suffix: str | None = None  # prefixes: only keys ending so
    label: str = ""  # the source as the user wrote it, for messages

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "prefix":
            return {"fromPrefix": self.location, **({"suffix": self.suffix} if self.suffix else {})}
        key = "fromStdin" if self.kind == "stdin" else "fromFile"
        return {key: self.location if self.kind == "file" else True, "format": self.format}


class SpecError(ValueError):
    def __init__(self, path: tuple[str, ...], message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.path, self.message, self.hint = path, message, hint


def is_spec(value: Any) -> bool:
    """A mapping with ``fromFile`` or ``fromPrefix``: where a list's items are."""
    return isinstance(value, dict) and any(key in value for key in SPEC_KEYS)


def parse_spec(value: Mapping[str, Any], base: Path) -> ItemsSpec:
    """The spec an exec file's ``{fromFile: …}`` / ``{fromPrefix: …}`` holds."""
    kinds = [key for key in SPEC_KEYS if key in value]
    if len(kinds) > 1:
        raise SpecError((), "give fromFile or fromPrefix, not both")
    kind = kinds[0]
    for key in value:
        if key != kind and key not in SPEC_KEYS[kind]:
            allowed = ", ".join([kind, *SPEC_KEYS[kind]])
            raise SpecError((key,), f"unknown key {key!r} next to {kind} (allowed: {allowed})")
    where = value[kind]
    if not isinstance(where, str) or not where.strip():
        raise SpecError((kind,), f"{kind} must be a path or an s3:// URI, got {describe(where)}")
    option = value.get(SPEC_KEYS[kind][0])
    if option is not None and not isinstance(option, str):
        raise SpecError((SPEC_KEYS[kind][0],), f"expected a string, got {describe(option)}")
    if kind == "fromPrefix":
        return prefix_spec(where, option)
    return file_spec(where, base, option)


def file_spec(where: str, base: Path, fmt: str | None = None) -> ItemsSpec:
    """A local file (relative to ``base``) or an s3:// object; the format from its name."""
    if where.startswith("s3://"):
        bucket, key = parse_s3_uri(where)
        if not bucket or not key or key.endswith("/"):
            raise SpecError(("fromFile",), f"{where!r} is not an S3 object URI (s3://BUCKET/KEY)")
    found = itemfiles.format_of(where, fmt)
    if found is None:
        raise SpecError(
            ("format",) if fmt else ("fromFile",),
            f"unknown items format {fmt!r}" if fmt else f"cannot tell the format of {where!r}",
            hint=f"name the file *.txt, *.jsonl, *.json or *.csv, or add format: one of "
            f"{', '.join(itemfiles.FORMATS)}",
        )
    if where.startswith("s3://"):
        return ItemsSpec("file", where, found, label=where)
    path = Path(where).expanduser()
    return ItemsSpec("file", str(path if path.is_absolute() else base / path), found, label=where)


def prefix_spec(where: str, suffix: str | None = None) -> ItemsSpec:
    if not where.startswith("s3://") or not parse_s3_uri(where)[0]:
        raise SpecError(("fromPrefix",), f"fromPrefix takes s3://BUCKET/PREFIX, got {where!r}")
    return ItemsSpec("prefix", where, suffix=suffix or None, label=where)


def parse_override(text: str, cwd: Path) -> tuple[str, ItemsSpec]:
    """``--items NAME=PATH``: a file or s3:// object; ``s3://b/p/`` or ``s3://b/p/*.jpg``
    (ending in ``/``, or with one ``*`` in the last part) lists a prefix instead."""
    name, sep, where = text.partition("=")
    if not sep or not name.strip() or not where.strip():
        raise InvalidInputError(
            f"--items {text!r}: expected NAME=PATH", hint="e.g. --items numbers=items.jsonl"
        )
    try:
        return name.strip(), location_spec(where.strip(), cwd)
    except SpecError as exc:
        raise InvalidInputError(f"--items {text!r}: {exc.message}", hint=exc.hint) from None


def parse_overrides(texts: Sequence[str], cwd: Path) -> dict[str, ItemsSpec]:
    """Every ``--items NAME=PATH``; a name given twice is an error."""
    found: dict[str, ItemsSpec] = {}
    for text in texts:
        name, spec = parse_override(text, cwd)
        if name in found:
            raise InvalidInputError(f"--items {name}: given twice")
        found[name] = spec
    return found


def location_spec(where: str, cwd: Path, fmt: str | None = None) -> ItemsSpec:
    """A file, an object, or (``s3://b/p/``, ``s3://b/p/*.jpg``) every object of a prefix."""
    head, _, last = where.rpartition("/")
    if where.startswith("s3://") and "*" in last:
        before, _, suffix = last.partition("*")
        if "*" in suffix:
            raise SpecError((), f"{where!r}: one '*' at most, as in s3://bucket/photos/*.jpg")
        return prefix_spec(f"{head}/{before}", suffix)
    if where.startswith("s3://") and where.endswith("/"):
        return prefix_spec(where)
    return file_spec(where, cwd, fmt)


def run_spec(
    items: str | None,
    prefix: str | None,
    suffix: str | None,
    fmt: str | None,
    cwd: Path,
    stdin: IO[bytes] | None,
) -> ItemsSpec:
    """``batchmap run``'s source: --items, --items-prefix, or stdin when it is not a terminal
    (as xargs and GNU parallel read theirs)."""
    if items and prefix:
        raise InvalidInputError("give --items or --items-prefix, not both")
    try:
        if prefix:
            return prefix_spec(prefix, suffix)
        if suffix:
            if not (items and items.startswith("s3://") and items.endswith("/")):
                raise InvalidInputError("--suffix goes with --items-prefix")
            return prefix_spec(items, suffix)
        if items:
            return location_spec(items, cwd, fmt)
    except SpecError as exc:
        raise InvalidInputError(
            f"{'--items-prefix' if prefix else '--items'}: {exc.message}", hint=exc.hint
        ) from None
    if stdin is None or stdin.isatty():
        raise InvalidInputError(
            "no items: give --items FILE, --items-prefix s3://BUCKET/PREFIX/, or pipe them in",
            hint="seq 1 10 | batchmap run --image busybox -- echo {{ item }}",
        )
    return stdin_spec(fmt)


def stdin_spec(fmt: str | None = None) -> ItemsSpec:
    found = itemfiles.format_of("-", fmt or "txt")
    if found is None:
        raise InvalidInputError(f"unknown items format {fmt!r}: use {', '.join(itemfiles.FORMATS)}")
    return ItemsSpec("stdin", "-", found, label="<stdin>")


class Items:
    """A list's items, read and checked, spooled as compact JSON lines (one per item)."""

    def __init__(self, spec: ItemsSpec, item_type: InputType, spool: IO[bytes], size: int):
        self.spec = spec
        self.item_type = item_type
        self.size = size
        self._spool = spool

    def __len__(self) -> int:
        return self.size

    def lines(self) -> Iterator[bytes]:
        """Each item's JSON (no newline), in order; every call starts again."""
        self._spool.seek(0)
        for line in self._spool:
            yield line[:-1]

    def __iter__(self) -> Iterator[Any]:
        return (json.loads(line) for line in self.lines())

    def to_dict(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "size": self.size}


def read(
    spec: ItemsSpec,
    item_type: InputType | None,
    *,
    s3: S3Getter | None = None,
    stdin: IO[bytes] | None = None,
) -> Items:
    """Read, check and spool every item of ``spec``; one error naming every problem.

    ``item_type`` None takes the type of the first item (``batchmap run``).
    """
    inferred = item_type is None
    problems: list[Problem] = []
    wrong = size = 0
    # The spool outlives this function when every item is good: Items owns it then.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        with contextlib.ExitStack() as stack:
            if spec.kind == "prefix":
                fmt = "prefix"
                records: Iterator[itemfiles.Record] = _prefix_records(spec, item_type, s3)
            else:
                fmt = spec.format or "txt"
                if fmt == "csv" and item_type is not None and item_type.kind != "dict":
                    raise InvalidInputError(
                        f"{spec.label}: CSV rows are mappings, but the list holds {item_type}",
                        hint="read a CSV into a list[dict] input, or use .txt or .jsonl",
                    )
                source = _open(spec, s3, stdin)
                if spec.kind != "stdin":
                    stack.enter_context(source)
                records = itemfiles.records(source, fmt)
            with _reading(spec):
                for record in records:
                    line, message = None, record.error
                    if message is None:
                        if item_type is None:
                            item_type = infer_type(record.value, fmt)
                        line, message = _checked(item_type, record, fmt)
                    if line is None:
                        wrong += 1
                        if len(problems) < MAX_PROBLEMS:
                            problems.append(
                                Problem(str(message), file=spec.label, line=record.line)
                            )
                        continue
                    spool.write(line + b"\n")
                    size += 1
    except BaseException:
        spool.close()
        raise
    if wrong:
        spool.close()
        if wrong > MAX_PROBLEMS:
            problems.append(Problem(f"and {wrong - MAX_PROBLEMS:,} more", file=spec.label))
        raise InvalidInputError(
            f"{spec.label}: {wrong:,} wrong item{'s' if wrong != 1 else ''}",
            problems=problems,
            hint=f"the first item made the items {item_type}s: pass --item-type to say otherwise"
            if inferred and item_type is not None
            else None,
        )
    return Items(spec, item_type or InputType("str"), spool, size)


def infer_type(value: Any, fmt: str) -> InputType:
    """The element type ``batchmap run`` gives a list whose first item is ``value``."""
    if fmt in ("txt", "prefix"):
        return InputType("str")
    for kind, python in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, python):
            return InputType(kind)
    if isinstance(value, list):
        return InputType("list", infer_type(value[0], fmt) if value else InputType("str"))
    return InputType("dict")


def _checked(t: InputType, record: itemfiles.Record, fmt: str) -> tuple[bytes | None, str | None]:
    """(the item's JSON line, None), or (None, what is wrong)."""
    value = record.value
    if fmt == "txt":  # a line of text read as the element type
        inner = t.item if t.kind == "optional" and t.item is not None else t
        kind = inner.kind
        text = value if kind == "str" else value.strip()
        if kind in _TEXT:
            value = text
        elif kind == "int" and _INT.fullmatch(text):
            return str(int(text)).encode(), None
        elif kind == "float" and _FLOAT.fullmatch(text):
            return json_line(float(text)), None
        elif kind == "bool" and text.lower() in ("true", "false"):
            return text.lower().encode(), None
        elif kind in ("int", "float", "bool"):
            return None, f"expected {kind}, got {describe(value)}"
        else:
            try:
                value = json.loads(text)
            except ValueError as exc:
                return None, f"not JSON: {exc}"
    if t.kind in EXACT and type(value) is EXACT[t.kind]:
        # The common case, without a generator; checking is all these types need.
        if record.raw is not None:  # the source's own JSON text, on one line: as it is
            return record.raw.encode(), None
        return json_line(value), None
    found = next(iter(check_value(t, value)), None)
    if found is not None:
        where = format_path(found.path)
        return None, f"{where}: {found.message}" if where else found.message
    return json_line(coerce(t, value)), None  # ints for floats, times in UTC, ...


_TEXT = ("str", "datetime", "duration", "file", "directory")


def _open(spec: ItemsSpec, s3: S3Getter | None, stdin: IO[bytes] | None) -> IO[bytes]:
    if spec.kind == "stdin":
        if stdin is None:
            raise InvalidInputError("no items on stdin")
        return itemfiles.maybe_gunzip(spec.location, stdin)
    if spec.location.startswith("s3://"):
        if s3 is None:
            raise InvalidInputError(f"{spec.label}: reading s3:// items needs AWS access")
        bucket, key = parse_s3_uri(spec.location)
        with _reading(spec):
            body = s3().get_object(Bucket=bucket, Key=key)["Body"]
        return itemfiles.maybe_gunzip(key, io.BufferedReader(body, itemfiles.CHUNK))
    path = Path(spec.location)
    try:
        return itemfiles.maybe_gunzip(path.name, path.open("rb"))
    except FileNotFoundError:
        raise InvalidInputError(f"{spec.label}: no such items file ({path})") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{spec.label}: is a directory, expected an items file") from None
    except OSError as exc:
        raise InvalidInputError(f"{spec.label}: cannot read: {exc.strerror}") from None


def _prefix_records(
    spec: ItemsSpec, item_type: InputType | None, s3: S3Getter | None
) -> Iterator[itemfiles.Record]:
    """One record per object under the prefix, as its s3:// URI, in key order."""
    if item_type is not None and item_type.kind != "str":
        raise InvalidInputError(
            f"{spec.label}: fromPrefix gives s3:// URIs (strings), but the list holds {item_type}"
        )
    if s3 is None:
        raise InvalidInputError(f"{spec.label}: listing s3:// items needs AWS access")
    bucket, prefix = parse_s3_uri(spec.location)
    paginator = s3().get_paginator("list_objects_v2")
    number = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if key.endswith("/") or (spec.suffix and not key.endswith(spec.suffix)):
                continue  # "folder" markers, and other suffixes
            number += 1
            yield itemfiles.Record(number, f"s3://{bucket}/{key}")


@contextlib.contextmanager
def _reading(spec: ItemsSpec) -> Iterator[None]:
    """AWS errors while reading items: a missing object is invalid input (exit 3), a
    refusal says which permission the caller lacks (exit 5)."""
    if not spec.location.startswith("s3://"):
        yield
        return
    bucket, key = parse_s3_uri(spec.location)
    if spec.kind == "prefix":
        operation, action, arn = "s3:ListObjectsV2", "s3:ListBucket", f"arn:aws:s3:::{bucket}"
    else:
        operation, action, arn = "s3:GetObject", "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"
    try:
        with aws_call(operation):
            yield
    except NotFoundError as exc:
        raise InvalidInputError(
            f"items {spec.label}: {exc.message}", hint="check the bucket and the key"
        ) from None
    except AwsRefusedError as exc:
        raise AwsRefusedError(
            f"items {spec.label}: {exc.message}",
            hint=exc.hint or f"the caller needs {action} on {arn} to read the items",
        ) from None


def describe_sources(values: Mapping[str, Any]) -> dict[str, Any]:
    """Where each input read from a source got its items, and how many (for plans)."""
    return {name: value.to_dict() for name, value in values.items() if isinstance(value, Items)}
