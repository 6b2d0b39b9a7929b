"""What a command costs before it does anything: pinned as counts, never as seconds
(speed itself is measured by benchmarks/run.py)."""

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from batchmap.cli.app import app


def _callbacks(typer_app: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    if typer_app.registered_callback is not None:
        yield "(callback)", typer_app.registered_callback.callback
    for command in typer_app.registered_commands:
        yield command.name or command.callback.__name__, command.callback
    for group in typer_app.registered_groups:
        for name, callback in _callbacks(group.typer_instance):
            yield f"{group.name} {name}", callback


def test_command_annotations_are_objects_not_strings() -> None:
    """typer resolves every command's annotations on every run (the whole tree, even for
    --help): strings (``from __future__ import annotations``) cost an eval() each."""
    found = list(_callbacks(app))
    assert len(found) > 15
    strings = [
        f"{name}: {parameter}"
        for name, callback in found
        for parameter, annotation in inspect.get_annotations(callback).items()
        if isinstance(annotation, str)
    ]
    assert strings == []
