"""Generate docs/cli-reference.md from the commands' own --help.

    python scripts/cli_reference.py > docs/cli-reference.md

tests/docs/test_docs.py fails when the file is stale, so --help and the
reference never disagree.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from batchmap.cli.app import app, main
from batchmap.cli.context import Environment


def command_paths(group: typer.Typer, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of the tree, from typer's public registration lists."""
    yield prefix
    for info in group.registered_commands:
        if info.hidden:
            continue
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        yield (*prefix, name)
    for sub in group.registered_groups:
        if sub.typer_instance is not None and not sub.hidden:
            yield from command_paths(sub.typer_instance, (*prefix, str(sub.name)))


def help_text(path: tuple[str, ...]) -> str:
    out = io.StringIO()
    env = Environment(out, out, {"COLUMNS": "100"}, Path.cwd(), Path.home())
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with contextlib.redirect_stdout(out):
            main([*path, "--help"], env)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue().rstrip() + "\n"


def render() -> str:
    parts = [
        "# CLI reference\n",
        "Generated from each command's `--help` by `python scripts/cli_reference.py`;",
        "a test fails when this file is stale.\n",
    ]
    for path in command_paths(app):
        title = " ".join(("batchmap", *path))
        parts.append(f"## `{title}`\n\n```text\n{help_text(path)}```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
