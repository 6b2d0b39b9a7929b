"""Shell completion of launch-plan names, execution names and --status values, through
the installed command as a shell calls it; never an error, whatever the config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.backends.local.test_local_backend import PY, P, prepare
from tests.cli.test_watch import batchmap_argv
from tests.conftest import Invoke, write


def complete(words: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """What bash's completion gets for the last word of ``words``."""
    parts = words.split(" ")
    environ = dict(
        os.environ,
        _BATCHMAP_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(parts) - 1),
        **(env or {}),
    )
    result = subprocess.run(
        batchmap_argv(), env=environ, capture_output=True, text=True, timeout=60
    )
    return result.returncode, result.stdout.split()


def test_names_and_statuses_complete(cli: Invoke, tmp_path: Path) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", "print(1)"], name="squares", default=[1])
    for name in ("alpha1", "alpha2", "beta"):
        assert (
            cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", name).exit_code
            == 0
        )
    assert complete("batchmap logs -p proj -d dev al") == (0, ["alpha1", "alpha2"])
    assert complete("batchmap get execution -p proj -d dev ") == (0, ["alpha1", "alpha2", "beta"])
    assert complete("batchmap relaunch -p proj -d dev b") == (0, ["beta"])
    assert complete("batchmap get launchplan -p proj -d dev sq") == (0, ["squares"])
    assert complete("batchmap logs -p proj -d dev alpha1 --status FA") == (0, ["FAILED"])
    assert complete("batchmap logs -p proj -d dev alpha1 --status FAILED,RU") == (
        0,
        ["FAILED,RUNNABLE", "FAILED,RUNNING"],
    )
    # Project and domain from the environment, as the commands take them.
    env = {"BATCHMAP_PROJECT": "proj", "BATCHMAP_DOMAIN": "dev"}
    assert complete("batchmap delete execution al", env) == (0, ["alpha1", "alpha2"])


def test_completion_never_fails(cli: Invoke, tmp_path: Path) -> None:
    assert complete("batchmap logs x") == (0, [])  # no project or domain
    write(Path("batchmap.yaml"), "storage: [not, a, path\n")  # a broken config file
    assert complete("batchmap logs -p proj -d dev a") == (0, [])
    write(Path("batchmap.yaml"), "storage: s3://bucket/store\n")  # no network on Tab
    assert complete("batchmap logs -p proj -d dev a") == (0, [])
