"""The root command: help, version, usage errors, the error → exit-code path."""

import json
import subprocess
import sys

import pytest

from batchmap import __version__
from batchmap.cli import app as app_module
from tests.conftest import Invoke


def test_version(cli: Invoke) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"batchmap {__version__}"


def test_no_arguments_shows_help(cli: Invoke) -> None:
    result = cli()
    assert "Usage: batchmap" in result.output


def test_usage_errors_exit_2(cli: Invoke) -> None:
    result = cli("config", "show", "--bogus")
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert cli("nosuchcommand").exit_code == 2
    assert cli("-o", "xml", "config", "show").exit_code == 2


def test_global_and_command_output_flags(cli: Invoke) -> None:
    assert json.loads(cli("-o", "json", "config", "show").stdout)["configFile"] is None
    assert json.loads(cli("config", "show", "-o", "json").stdout)["configFile"] is None
    # The command's own -o wins over the global one.
    assert cli("-o", "json", "config", "show", "-o", "yaml").stdout.startswith("configFile:")


@pytest.fixture
def broken_command() -> None:
    @app_module.app.command("explode", hidden=True)
    def explode() -> None:
        raise RuntimeError("kaboom")

    yield
    app_module.app.registered_commands.pop()


@pytest.mark.usefixtures("broken_command")
def test_unexpected_errors_exit_1_without_traceback(cli: Invoke) -> None:
    result = cli("explode")
    assert result.exit_code == 1
    assert "unexpected error: RuntimeError: kaboom" in result.stderr
    assert "Traceback" not in result.stderr
    assert "--debug" in result.stderr


@pytest.mark.usefixtures("broken_command")
def test_debug_shows_the_traceback(cli: Invoke) -> None:
    assert "Traceback" in cli("--debug", "explode").stderr
    assert "Traceback" in cli("explode", env={"BATCHMAP_DEBUG": "1"}).stderr


def test_interrupt_exits_130(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(app_module, "app", interrupted)
    result = cli("config", "show")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


def test_help_does_not_import_heavy_modules() -> None:
    """--help must stay fast: boto3, rich, jsonschema, ruamel and pydantic (which typer
    uses to convert option values) load only when used."""
    code = (
        "import sys; from batchmap.cli.app import main; rc = main(['--help']); "
        "heavy = [m for m in ('boto3', 'botocore', 'rich', 'jsonschema', 'ruamel.yaml', "
        "'pydantic') if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_python_dash_m(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "batchmap", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"batchmap {__version__}"


def test_typer_is_used_through_its_public_api_only() -> None:
    import pathlib

    root = pathlib.Path(app_module.__file__).parents[1]
    offenders = [
        str(p)
        for p in root.rglob("*.py")
        if "import click" in p.read_text()
        or "from click" in p.read_text()
        or "typer._click" in p.read_text()
    ]
    assert offenders == []
