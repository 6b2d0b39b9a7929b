"""Typed inputs: ``int``, ``float``, ``str``, ``bool``, ``dict``, ``datetime``,
``duration``, ``file``, ``directory`` and ``list[T]``.

A launch plan declares each input's type as text (``list[list[int]]``); exec
files supply values. This module parses the types, checks values against
them (every problem, with its path: ``numbers[3]: expected int, got "x"``),
and gives each type's zero value, following flytectl's table.

The last four are Flyte's: ``datetime`` is an RFC 3339 time (``2024-01-02T03:04:05Z``),
``duration`` a Go duration as flytectl writes and reads it (``300s``, ``1h30m``),
``file`` and ``directory`` a local path or a URI (``s3://bucket/key``), as
flytekit's ``FlyteFile`` and ``FlyteDirectory`` take them. Values stay text in
launch plans and exec files; ``coerce`` normalises times to UTC with a ``Z``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from batchmap.files.schemas import describe

SCALARS = ("int", "float", "str", "bool", "datetime", "duration", "file", "directory")
BLOBS = ("file", "directory")
# Go's time.ParseDuration: an optional sign, then numbers with units (flytectl's format).
GO_DURATION = re.compile(r"^[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|ms|s|m|h))+$|^0$")
_GO_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_LIST = re.compile(r"^list\[(?P<inner>.+)\]$")
_OPTIONAL = re.compile(r"^optional\[(?P<inner>.+)\]$")
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TYPE_DEPTH = 32


class TypeSyntaxError(ValueError):
    """A type expression that is not one of batchmap's input types."""


@dataclass(frozen=True)
class InputType:
    """``kind`` is a scalar name, ``dict``, ``list`` or ``optional`` (with ``item``):
    ``optional[T]`` is a T or null (flytekit's ``Optional[T]``)."""

    kind: str
    item: InputType | None = None

    def __str__(self) -> str:
        return f"{self.kind}[{self.item}]" if self.kind in ("list", "optional") else self.kind

    @property
    def is_list(self) -> bool:
        return self.kind == "list"

    @property
    def depth(self) -> int:
        return 1 + self.item.depth if self.item is not None else 0


def parse_type(text: str) -> InputType:
    """Parse ``int``, ``list[str]``, ``list[list[float]]``, ``dict`` … (spaces allowed)."""
    compact = re.sub(r"\s+", "", str(text)).lower()
    wrappers: list[str] = []
    while True:  # a loop: no recursion to exhaust
        match = _LIST.match(compact) or _OPTIONAL.match(compact)
        if match is None:
            break
        wrappers.append("list" if match.re is _LIST else "optional")
        if len(wrappers) > MAX_TYPE_DEPTH:
            raise TypeSyntaxError(
                f"type nested deeper than {MAX_TYPE_DEPTH} levels: no value could be written "
                "for it (YAML documents nest at most 64 levels)"
            )
        compact = match.group("inner")
    parsed = _parse_base(text, compact)
    for kind in reversed(wrappers):
        parsed = InputType(kind, parsed)
    return parsed


def _parse_base(text: str, compact: str) -> InputType:
    if compact in SCALARS or compact == "dict":
        return InputType(compact)
    if compact == "list":
        raise TypeSyntaxError("'list' needs an item type, e.g. list[int]")
    aliases = {
        "integer": "int",
        "string": "str",
        "boolean": "bool",
        "number": "float",
        "map": "dict",
        "object": "dict",
        "double": "float",
        "timestamp": "datetime",
        "date": "datetime",
        "timedelta": "duration",
        "path": "file",
        "blob": "file",
        "flytefile": "file",
        "flytedirectory": "directory",
        "dir": "directory",
    }
    hint = f"; did you mean '{aliases[compact]}'?" if compact in aliases else ""
    raise TypeSyntaxError(
        f"unknown type {text!r}: use int, float, str, bool, dict, datetime, duration, "
        f"file, directory, list[T] or optional[T]{hint}"
    )


def zero_value(t: InputType) -> Any:
    """The value flytectl writes for an input with no default (coreutils'
    MakeDefaultLiteralForType: the time now, one second, ``/tmp/somepath``)."""
    if t.kind == "list":
        assert t.item is not None
        return [zero_value(t.item)]
    if t.kind == "optional":  # flytectl: a union's zero value is its first variant's
        assert t.item is not None
        return zero_value(t.item)
    if t.kind == "datetime":
        return format_datetime(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    return {
        "int": 0,
        "float": 0.0,
        "str": "",
        "bool": False,
        "dict": {},
        "duration": "1s",
        "file": "/tmp/somepath",
        "directory": "/tmp/somepath",
    }[t.kind]


def parse_datetime(text: str) -> dt.datetime:
    """An RFC 3339 time; one without a zone is UTC (as flytekit takes naive datetimes)."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def format_datetime(value: dt.datetime) -> str:
    """``2024-01-02T03:04:05Z`` (fractions only when there are some)."""
    value = value.astimezone(dt.timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def duration_seconds(text: str) -> float:
    """Seconds of a Go duration (``1h30m``, ``300ms``, ``-1.5h``)."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    parts = _GO_PART.findall(text.lstrip("+-"))
    return sign * sum(float(n) * _GO_UNITS[u] for n, u in parts)


def format_duration(seconds: int, nanos: int = 0) -> str:
    """Go's ``time.Duration.String()``: ``5m0s``, ``1h0m0s``, ``1.5s``, ``300ms``, ``0s``."""
    total = seconds * 1_000_000_000 + nanos
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    if total < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if total >= size or unit == "ns":
                return sign + _decimal(total, size) + unit
    hours, rest = divmod(total, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")


@dataclass(frozen=True)
class ValueProblem:
    path: tuple[str | int, ...]
    message: str


# The kinds whose values are exactly one Python type (no bool for an int): such a value
# needs no more check than its type, and coerce gives it back as it is.
EXACT: dict[str, type] = {"int": int, "str": str, "dict": dict, "bool": bool}


def check_value(
    t: InputType, value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[ValueProblem]:
    """Every way ``value`` fails to be a ``t``, each with its path inside the value."""
    if t.kind == "optional":
        assert t.item is not None
        if value is not None:
            yield from check_value(t.item, value, path)
        return
    if t.kind == "list":
        if not isinstance(value, list):
            yield ValueProblem(path, f"expected {t}, got {describe(value)}")
            return
        assert t.item is not None
        exact = EXACT.get(t.item.kind)
        if exact is not None and all(type(item) is exact for item in value):
            return  # the common list, checked without a generator per element
        for i, item in enumerate(value):
            yield from check_value(t.item, item, (*path, i))
        return
    if t.kind in ("datetime", "duration", *BLOBS) and isinstance(value, str):
        problem = _text_problem(t.kind, value)
        if problem:
            yield ValueProblem(path, problem)
        return
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
    }.get(t.kind, False)
    if not ok:
        hint = ""
        if t.kind == "str" and isinstance(value, int | float | bool):
            hint = " (quote it to make it a string)"
        if t.kind == "int" and isinstance(value, float) and value.is_integer():
            hint = f" (write {int(value)})"
        if t.kind == "duration" and isinstance(value, int | float) and not isinstance(value, bool):
            hint = f" (write {value}s: a duration needs a unit, as in flytectl)"
        yield ValueProblem(path, f"expected {t.kind}, got {describe(value)}{hint}")


def _text_problem(kind: str, value: str) -> str | None:
    if kind == "datetime":
        try:
            parse_datetime(value)
        except ValueError:
            return f"expected datetime (RFC 3339, e.g. 2024-01-02T03:04:05Z), got {describe(value)}"
    elif kind == "duration" and not GO_DURATION.match(value.strip()):
        return f"expected duration (e.g. 300s, 1h30m, 500ms), got {describe(value)}"
    elif kind in BLOBS and not value.strip():
        return f'expected {kind} (a local path or a URI such as s3://bucket/key), got ""'
    return None


def coerce(t: InputType, value: Any) -> Any:
    """Normalise a checked value: ints given for floats become floats, times UTC."""
    if value is None:
        return None
    if t.kind == "optional":
        assert t.item is not None
        return coerce(t.item, value)
    if t.kind == "float":
        return float(value)
    if t.kind == "datetime":
        return format_datetime(parse_datetime(value))
    if t.kind == "duration":
        return value.strip()
    if t.kind == "list" and isinstance(value, list):
        assert t.item is not None
        if t.item.kind in EXACT:  # what coerce gives back as it is
            return list(value)
        return [coerce(t.item, v) for v in value]
    return value
