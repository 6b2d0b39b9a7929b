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


def test_reading_an_execution_imports_nothing_of_planning() -> None:
    """get execution and logs build the AWS backend and read; IAM checks, queue rules,
    request building and YAML/JSON Schema tooling are imported only to plan or submit."""
    import subprocess
    import sys

    code = (
        "import sys; import batchmap.api, batchmap.backends.aws.backend, batchmap.cli.app, "
        "batchmap.cli.views; "
        "print(sorted(m for m in ('batchmap.aws.iam', 'batchmap.executions.queues', "
        "'batchmap.backends.aws.requests', 'batchmap.executions.plan', "
        "'batchmap.executions.items', 'batchmap.launchplans.registry', 'ruamel', "
        "'jsonschema', 'boto3', 'rich') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_command_with_options_imports_no_pydantic(tmp_path) -> None:
    """typer 0.29 imports pydantic to convert any option's value (0.1-0.2 s of every
    command): pyproject.toml pins typer below it, and nothing of batchmap imports it."""
    import subprocess
    import sys

    code = (
        "import sys; from batchmap.cli.app import main; "
        "code = main(['-o', 'json', 'get', 'execution', '-p', 'proj', '-d', 'dev', "
        "'--limit', '5']); "
        "print(code, 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stderr


def test_the_benchmarks_bare_typer_app_prints_the_same_help(tmp_path) -> None:
    """benchmarks/run.py holds `--help` against a bare typer app with batchmap's tree
    (benchmarks/anchors.py): the two must print the same text, command order included."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from benchmarks import anchors

    root = Path(__file__).parents[2]
    bare = tmp_path / "batchmap"  # named so that its usage line reads "batchmap"
    bare.write_text(anchors.typer_app(app))
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(root)}
    for args in (["--help"], ["get", "execution", "--help"], ["create", "execution", "--help"]):
        theirs = subprocess.run([sys.executable, str(bare), *args], capture_output=True,
                                text=True, env=env, check=True)  # fmt: skip
        ours = subprocess.run([sys.executable, "-m", "batchmap", *args], capture_output=True,
                              text=True, env=env, check=True, cwd=root)  # fmt: skip
        assert theirs.stdout.replace("python -m batchmap", "batchmap") == ours.stdout.replace(
            "python -m batchmap", "batchmap"
        ), args
