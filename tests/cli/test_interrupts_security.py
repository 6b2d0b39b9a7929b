"""Interrupts end in exit 130 with nothing half-written; credentials and secrets never
show; names cannot climb out of the store."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import PY, P, prepare
from tests.conftest import Invoke, installed, running_children, wait_until, write

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSUPERSECRET"


def _start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [installed(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or dict(os.environ),
    )


def _wait_running(name: str) -> None:
    wait_until(lambda: running_children(name) > 0, f"{name} to run a child")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("command", ["wait", "follow", "watch"])
def test_signals_exit_130_without_traceback(cli: Invoke, tmp_path: Path, sig, command) -> None:
    sleeper = [PY, "-c", "import time; print('start', flush=True); time.sleep(60)"]
    exec_file = prepare(cli, tmp_path, sleeper, default=[1, 2])
    name = f"s{command}{int(sig)}"
    if command == "wait":
        proc = _start("create", "execution", *P, "--execFile", str(exec_file), "--wait", name)
    else:
        assert cli("create", "execution", *P, "--execFile", str(exec_file), name).exit_code == 0
        args = (
            ["logs", *P, name, "--follow"]
            if command == "follow"
            else ["get", "execution", *P, name, "--watch"]
        )
        proc = _start(*args)
    _wait_running(name)
    # Signal once the command is watching: its first progress line, or first log line.
    first = proc.stderr.readline() if command == "watch" else ""
    if command == "follow":
        proc.stdout.readline()
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    err = first + err
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert "error:" not in err  # Ctrl-C says what goes on; it is no error
    said = {
        "wait": f"interrupted: stopped the running children of {name}; it is ABORTED",
        "follow": f"interrupted: stopped following; {name} continues",
        "watch": f"interrupted: stopped watching; {name} continues",
    }[command]
    assert said in err
    store = Path(os.environ["HOME"]) / ".batchmap/store/proj/dev" / name
    assert not list(store.rglob("*.tmp"))  # nothing half-written
    json.loads((store / "execution.json").read_text())
    cli("delete", "execution", *P, name)  # stop the detached children


def test_credentials_never_appear_even_with_debug(cli: Invoke, tmp_path: Path) -> None:
    write(Path("batchmap.yaml"), "registry: s3://nobody-bucket/r\n")
    env = {
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = cli("--debug", "get", "launchplan", "-p", "p", "-d", "d", env=env)
    assert result.exit_code == 6
    assert SECRET not in result.output
    shown = cli("config", "show", "-o", "json", env=env)
    assert SECRET not in shown.output


def test_secrets_are_shown_by_arn_only(cli: Invoke, tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf"
    exec_file = prepare(
        cli,
        tmp_path,
        [PY, "-c", "print(1)"],
        default=[1],
        extra_task=f"  secrets:\n    DB_PASSWORD: {arn}\n",
    )
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--dryRun", "-o", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["local"]["secrets"] == ["DB_PASSWORD"]
    assert "secrets are AWS ARNs and are not resolved here" in result.stderr


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "UPPER"])
def test_names_cannot_climb_out_of_the_store(cli: Invoke, tmp_path: Path, name: str) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", "print(1)"], default=[1])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), name)
    assert result.exit_code == 3 and "invalid execution name" in result.stderr
    assert cli("get", "execution", *P, name).exit_code in (3, 4)
    assert not (tmp_path.parent / "escape").exists()
