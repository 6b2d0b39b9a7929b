"""Shared fixtures: an isolated HOME and fake AWS credentials for every test,
and ``cli`` to run batchmap's ``main()`` in-process with captured streams."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchmap.cli.app import main
from batchmap.cli.state import Environment

TESTDATA = Path(__file__).parent / "testdata"

_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_SESSION_TOKEN",
    "NO_COLOR",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's HOME, config, profiles or real credentials."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.startswith("BATCHMAP_") or name in _SCRUBBED:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    return home


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


Invoke = Callable[..., Result]


@pytest.fixture
def cli(isolated: Path) -> Invoke:
    """Run ``batchmap ARGS...`` through ``main()`` (the real error → exit code path)."""
    import io

    def invoke(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
        environ = dict(os.environ)
        environ.update(env or {})
        stdout, stderr = io.StringIO(), io.StringIO()
        environment = Environment(stdout, stderr, environ, cwd or Path.cwd(), isolated)
        import contextlib

        saved = dict(os.environ)
        os.environ.update(env or {})  # typer reads envvar= options from os.environ
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(list(args), environment)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Result(code, stdout.getvalue(), stderr.getvalue())

    return invoke


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def lines_of(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]
