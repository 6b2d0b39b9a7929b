"""Docs are part of the product: the CLI reference is generated and must be current."""

import importlib.util
from pathlib import Path

from batchmap.cli.app import app
from batchmap.errors import ExitCode

ROOT = Path(__file__).parents[2]


def _reference_module():
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts" / "cli_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    expected = _reference_module().render()
    actual = (ROOT / "docs" / "cli-reference.md").read_text()
    assert actual == expected, "run: python scripts/cli_reference.py > docs/cli-reference.md"


def test_every_command_has_help_with_an_example() -> None:
    module = _reference_module()
    for path in module.command_paths(app):
        text = module.help_text(path)
        assert "Usage:" in text
        is_group = "Commands:" in text
        if path and not is_group:
            assert "Examples:" in text, f"'batchmap {' '.join(path)}' --help has no example"


def test_exit_codes_doc_lists_every_code() -> None:
    text = (ROOT / "docs" / "exit-codes.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in text, f"docs/exit-codes.md lacks {code.name}"


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```")
    assert "pip install" in blocks[1]
    assert "pytest" in blocks[3]


def test_readmes_first_command_runs_the_map(tmp_path, isolated) -> None:
    """The README's first command, minus the install CI has already done, really runs."""
    import os
    import shutil
    import subprocess

    first = (ROOT / "README.md").read_text().split("```")[1].removeprefix("sh\n").strip()
    assert first.startswith("python -m pip install -e . && ")
    command = first.removeprefix("python -m pip install -e . && ")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = dict(os.environ, HOME=str(isolated))
    result = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "SUCCEEDED: 10 of 10 children succeeded" in result.stderr
    assert "[9] child 9: 10 squared is 100" in result.stdout


def test_help_is_true_for_a_pip_install_and_in_the_order_of_use() -> None:
    """A pip-installed batchmap has no docs/ folder: no --help may send people there."""
    module = _reference_module()
    for path in module.command_paths(app):
        assert "docs/" not in module.help_text(path), f"'batchmap {' '.join(path)}' --help"
    text = module.help_text(())
    commands = text[text.index("Commands:") :].split()
    order = ["config", "setup", "doctor", "register", "get", "create", "logs", "relaunch"]
    assert [c for c in commands if c in order] == order
