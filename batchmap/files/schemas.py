"""JSON Schema validation of YAML documents, with located, readable messages.

jsonschema finds the problems; this module only says them the way a person
editing the file needs: the field path, the line, what was expected, and a
"did you mean" for misspelt keys. Every problem of a document is returned at
once, sorted by line.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from batchmap.errors import Problem
from batchmap.files.yamldoc import PathPart, YamlDocument

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in ``batchmap/schemas`` (package data)."""
    from importlib import resources

    text = resources.files("batchmap.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    # The shipped schemas are checked against the metaschema by the tests
    # (tests/files/test_schemas.py), not on every run: that check costs more than a validation.
    return Draft202012Validator(load_schema(name))


def describe(value: Any) -> str:
    """A short description of a value for "expected X, got Y" messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"{json.dumps(shown)} (a string)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _expected(types: str | Sequence[str]) -> str:
    if isinstance(types, str):
        types = [types]
    return " or ".join(_TYPE_WORDS.get(t, t) for t in types)


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"did you mean '{close[0]}'?" if close else None


def _problems_for(error: Any, doc: YamlDocument, base: tuple[PathPart, ...]) -> list[Problem]:
    path = (*base, *error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    custom = schema.get("x-messages", {}).get(kind)
    if kind == "pattern":
        custom = custom or schema.get("x-message")
    instance = error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))

        extras = [
            k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)
        ]
        where = f" in {'.'.join(str(p) for p in path if isinstance(p, str))}" if path else ""
        return [
            doc.problem(
                (*path, key),
                f"unknown key '{key}'",
                hint=did_you_mean(key, known)
                or (f"known keys{where}: {', '.join(known)}" if known else None),
            )
            for key in extras
        ]
    if kind == "required" and isinstance(instance, dict):
        missing = [k for k in error.validator_value if k not in instance]
        return [doc.problem(path, f"missing required key '{k}'") for k in missing]
    if custom:
        return [doc.problem(path, custom.format(value=instance))]
    if kind == "type":
        message = f"expected {_expected(error.validator_value)}, got {describe(instance)}"
    elif kind == "enum":
        choices = ", ".join(json.dumps(c) for c in error.validator_value)
        message = f"must be one of {choices}; got {describe(instance)}"
        hint = did_you_mean(str(instance), [str(c) for c in error.validator_value])
        return [doc.problem(path, message, hint=hint)]
    elif kind == "const":
        message = f"must be {json.dumps(error.validator_value)}; got {describe(instance)}"
    elif kind == "pattern":
        message = f"{describe(instance)} does not match the pattern {error.validator_value}"
    elif kind == "minItems":
        n = error.validator_value
        message = "must not be empty" if n == 1 else f"needs at least {n} items"
    elif kind == "maxItems":
        message = f"has {len(instance)} items; at most {error.validator_value} are allowed"
    elif kind == "minProperties":
        message = "must not be empty"
    elif kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[kind]
        message = f"must be {words} {error.validator_value}; got {instance!r}"
    elif kind == "minLength":
        message = "must not be empty" if error.validator_value == 1 else error.message
    elif kind == "maxLength":
        message = f"is {len(instance)} characters long; at most {error.validator_value} allowed"
    elif kind in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        return _problems_for(best_match(error.context), doc, base)
    else:
        message = error.message
    return [doc.problem(path, message)]


def schema_problems(
    doc: YamlDocument,
    schema_name: str,
    data: Any = None,
    base: tuple[PathPart, ...] = (),
) -> list[Problem]:
    """Every schema violation of ``data`` (default: the whole document)."""
    validator = _validator(schema_name)
    instance = doc.data if data is None else data
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in validator.iter_errors(instance):
        for problem in _problems_for(error, doc, base):
            key = (problem.path, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    problems.sort(key=lambda p: (p.line or 0, p.path))
    return problems
