"""Every row of docs/exit-codes.md, produced by a real command."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from batchmap.cli import app as app_module
from tests.backends.local.test_local_backend import PY, P, prepare
from tests.conftest import Invoke, write

ROOT = Path(__file__).parents[2]


def documented() -> dict[int, str]:
    text = (ROOT / "docs" / "exit-codes.md").read_text()
    return {int(code): name for code, name in re.findall(r"^\| (\d+) \| (\w+) \|", text, re.M)}


def ok(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    return [("config", "show")]


def error(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    return [("explode",)]


def usage(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    exec_file = prepare(cli, tmp, [PY, "-c", "print(1)"], default=[1])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "u").exit_code == 0
    )
    return [
        ("nosuchcommand",),
        ("config", "show", "--bogus"),
        ("-o", "xml", "config", "show"),  # typer checks the vocabulary
        ("get", "execution", *P, "u", "--status", "FAILD"),  # batchmap does
        ("get", "execution", *P, "u", "--index", "3-"),
        ("get", "execution", *P, "u", "--index", "7"),  # not a child of u
        ("logs", *P, "u", "--since", "yesterday"),
        ("get", "execution", *P, "u", "--limit", "-1"),
        ("relaunch", *P, "u"),  # neither --failed nor --index
    ]


def invalid(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    bad = write(tmp / "bad.yaml", "backend: moon\n")
    return [("config", "validate", str(bad))]


def not_found(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    return [("get", "execution", *P, "nope"), ("logs", *P, "nope")]


def aws_refused(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account, register_with_items

    stack.enter_context(mock_aws(config={"batch": {"use_docker": False}}))
    make_account()
    write(Path("batchmap.yaml"), CONFIG)
    exec_file = register_with_items(cli, 3)
    create = ("create", "execution", "-p", "flytesnacks", "-d", "development")
    return [(*create, "--execFile", str(exec_file), "--iamRoleARN", ROLE_ARN, "--queue", "ghost")]


def aws_service(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    write(Path("batchmap.yaml"), "registry: s3://nobody-bucket/r\n")
    return [("get", "launchplan", "-p", "p", "-d", "d")]


def below_ratio(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    exec_file = prepare(cli, tmp, [PY, "-c", "import sys; sys.exit(1)"], default=[1, 2])
    return [("create", "execution", *P, "--execFile", str(exec_file), "--wait", "b")]


def interrupted(cli: Invoke, tmp: Path, stack: ExitStack) -> list[tuple[str, ...]]:
    return [("interrupt",)]


SCENARIOS: dict[int, Callable[[Invoke, Path, ExitStack], list[tuple[str, ...]]]] = {
    0: ok,
    1: error,
    2: usage,
    3: invalid,
    4: not_found,
    5: aws_refused,
    6: aws_service,
    7: below_ratio,
    130: interrupted,
}
ENV = {6: {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}}


def test_every_documented_code_has_a_scenario() -> None:
    assert set(documented()) == set(SCENARIOS)


@pytest.fixture
def extra_commands() -> None:
    @app_module.app.command("explode", hidden=True)
    def explode() -> None:
        raise RuntimeError("kaboom")

    @app_module.app.command("interrupt", hidden=True)
    def interrupt() -> None:
        raise KeyboardInterrupt

    yield
    app_module.app.registered_commands.pop()
    app_module.app.registered_commands.pop()


@pytest.mark.usefixtures("extra_commands")
@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_each_row_of_the_table(cli: Invoke, tmp_path: Path, code: int) -> None:
    with ExitStack() as stack:
        for args in SCENARIOS[code](cli, tmp_path, stack):
            result = cli(*args, env=ENV.get(code))
            assert result.exit_code == code, (args, result.stderr)
            assert "Traceback" not in result.stderr
            if code != 0:
                assert result.stderr.strip(), args  # every failure says something
