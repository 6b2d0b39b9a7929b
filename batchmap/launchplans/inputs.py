"""Typed inputs: ``int``, ``float``, ``str``, ``bool``, ``dict``, ``list[T]``.

A launch plan declares each input's type as text (``list[list[int]]``); exec
files supply values. This module parses the types, checks values against
them (every problem, with its path: ``numbers[3]: expected int, got "x"``),
and gives each type's zero value, following flytectl's table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from batchmap.files.schemas import describe

SCALARS = ("int", "float", "str", "bool")
_LIST = re.compile(r"^list\[(?P<inner>.+)\]$")
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TYPE_DEPTH = 32


class TypeSyntaxError(ValueError):
    """A type expression that is not one of batchmap's input types."""


@dataclass(frozen=True)
class InputType:
    """``kind`` is a scalar name, ``dict``, or ``list`` (with ``item``)."""

    kind: str
    item: InputType | None = None

    def __str__(self) -> str:
        return f"list[{self.item}]" if self.kind == "list" else self.kind

    @property
    def is_list(self) -> bool:
        return self.kind == "list"

    @property
    def depth(self) -> int:
        return 1 + self.item.depth if self.item is not None else 0


def parse_type(text: str) -> InputType:
    """Parse ``int``, ``list[str]``, ``list[list[float]]``, ``dict`` … (spaces allowed)."""
    compact = re.sub(r"\s+", "", str(text)).lower()
    depth = 0
    while (match := _LIST.match(compact)) is not None:  # a loop: no recursion to exhaust
        depth += 1
        if depth > MAX_TYPE_DEPTH:
            raise TypeSyntaxError(
                f"type nested deeper than {MAX_TYPE_DEPTH} lists: no value could be written "
                "for it (YAML documents nest at most 64 levels)"
            )
        compact = match.group("inner")
    parsed = _parse_base(text, compact)
    for _ in range(depth):
        parsed = InputType("list", parsed)
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
    }
    hint = f"; did you mean '{aliases[compact]}'?" if compact in aliases else ""
    raise TypeSyntaxError(
        f"unknown type {text!r}: use int, float, str, bool, dict or list[T]{hint}"
    )


def zero_value(t: InputType) -> Any:
    """The value flytectl writes for an input with no default."""
    if t.kind == "list":
        assert t.item is not None
        return [zero_value(t.item)]
    return {"int": 0, "float": 0.0, "str": "", "bool": False, "dict": {}}[t.kind]


@dataclass(frozen=True)
class ValueProblem:
    path: tuple[str | int, ...]
    message: str


def check_value(
    t: InputType, value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[ValueProblem]:
    """Every way ``value`` fails to be a ``t``, each with its path inside the value."""
    if t.kind == "list":
        if not isinstance(value, list):
            yield ValueProblem(path, f"expected {t}, got {describe(value)}")
            return
        assert t.item is not None
        for i, item in enumerate(value):
            yield from check_value(t.item, item, (*path, i))
        return
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
    }[t.kind]
    if not ok:
        hint = ""
        if t.kind == "str" and isinstance(value, int | float | bool):
            hint = " (quote it to make it a string)"
        if t.kind == "int" and isinstance(value, float) and value.is_integer():
            hint = f" (write {int(value)})"
        yield ValueProblem(path, f"expected {t.kind}, got {describe(value)}{hint}")


def coerce(t: InputType, value: Any) -> Any:
    """Normalise a checked value: ints given for floats become floats."""
    if t.kind == "float":
        return float(value)
    if t.kind == "list" and isinstance(value, list):
        assert t.item is not None
        return [coerce(t.item, v) for v in value]
    return value
