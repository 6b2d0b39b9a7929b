"""What commands answer: tables that fit 80 columns, durations and a final state for
finished executions, empty answers that say so, and an abort in plain sentences."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from batchmap.executions.phase import ABORT_REASON
from tests.backends.local.test_local_backend import PY, P, prepare, status
from tests.cli.test_watch import mixed
from tests.conftest import Invoke, running_children, wait_until

NARROW = {"COLUMNS": "80"}


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def test_tables_fit_80_columns_and_wide_shows_all(cli: Invoke, tmp_path: Path) -> None:
    exec_file = mixed(cli, tmp_path)
    cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "a-rather-long-name-1")
    listed = cli("get", "execution", *P, env=NARROW)
    assert listed.exit_code == 0 and widest(listed.stdout) <= 80, listed.stdout
    header = listed.stdout.splitlines()[0].split()
    assert header[:2] == ["NAME", "LAUNCH"] and "DURATION" in header and "FAILED" in header
    assert "left out to fit 80 columns (--wide)" in listed.stderr
    one = cli("get", "execution", *P, "a-rather-long-name-1", env=NARROW)
    assert one.exit_code == 0 and widest(one.stdout) <= 80, one.stdout
    assert "…" in one.stdout  # the directory line is elided, not wrapped
    wide = cli("get", "execution", *P, "a-rather-long-name-1", "--wide", env=NARROW)
    assert widest(wide.stdout) > 80 and "LOGS" in wide.stdout and "STARTED" in wide.stdout
    logs = [line for line in wide.stdout.splitlines() if "/logs/" in line]
    assert len(logs) >= 30  # every child's log file, in full


def test_finished_executions_show_duration_and_state(cli: Invoke, tmp_path: Path) -> None:
    slow = [PY, "-c", "import time; time.sleep(1.2)"]
    exec_file = prepare(cli, tmp_path, slow, default=[1])
    # Detached: no writer records the end; reading shows it all the same.
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "bg").exit_code == 0
    deadline = time.monotonic() + 60
    while status(cli, "bg")["status"]["phase"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    data = status(cli, "bg")
    assert data["state"] == "FINISHED" and data["finishedAt"]
    listed = json.loads(cli("get", "execution", *P, "-o", "json").stdout)
    assert listed[0]["state"] == "FINISHED"
    table = cli("get", "execution", *P, env=NARROW).stdout.splitlines()
    duration = table[0].index("DURATION")
    assert "SUCCEEDED" in table[2] and table[2][duration:].strip() in ("1s", "2s", "3s")
    manifest = Path(os.environ["HOME"]) / ".batchmap/store/proj/dev/bg/execution.json"
    assert json.loads(manifest.read_text())["state"] == "SUBMITTED"  # reading never writes


def test_empty_answers_say_so(cli: Invoke, tmp_path: Path) -> None:
    quiet = [PY, "-c", "pass"]
    exec_file = prepare(cli, tmp_path, quiet, default=[1, 2])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "q").exit_code == 0
    )
    logs = cli("logs", *P, "q")
    assert (logs.exit_code, logs.stdout) == (0, "")
    assert "no log lines from the children of q" in logs.stderr
    failed = cli("logs", *P, "q", "--status", "FAILED")
    assert failed.exit_code == 0 and "no FAILED children in q" in failed.stderr
    outputs = cli("get", "execution", *P, "q", "--outputs")
    assert outputs.exit_code == 0 and "no child of q wrote an output" in outputs.stderr
    rows = cli("get", "execution", *P, "q", "--status", "FAILED")
    assert rows.exit_code == 0 and "no children of q match --status FAILED" in rows.stderr
    nothing = cli("get", "execution", "-p", "proj", "-d", "empty")
    assert nothing.exit_code == 0 and "no executions in proj/empty" in nothing.stderr


def test_delete_says_what_it_stopped_and_ends_aborted(cli: Invoke, tmp_path: Path) -> None:
    sleeper = [PY, "-c", "import time; print('start', flush=True); time.sleep(60)"]
    exec_file = prepare(cli, tmp_path, sleeper, default=[1, 2, 3], concurrency=2)
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "ab").exit_code == 0
    wait_until(lambda: running_children("ab") >= 2, "two children to run")
    result = cli("delete", "execution", *P, "ab")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Stopped 2 running children and 1 not started of ab (")
    assert lines[0].endswith(f"), reason: {ABORT_REASON}.")
    assert lines[1] == "ab is ABORTED: 0 of 3 children had succeeded."
    assert "{" not in result.stderr and "✓" not in result.stderr
    data = status(cli, "ab")
    assert data["status"]["phase"] == "ABORTED" and data["terminated"]["reason"] == ABORT_REASON
    assert {c["reason"] for c in data["children"]} == {ABORT_REASON}
    listed = json.loads(cli("get", "execution", *P, "-o", "json").stdout)
    assert listed[0]["status"]["phase"] == "ABORTED"
    again = cli("delete", "execution", *P, "ab")
    assert (
        "ab had already finished (ABORTED: 0 of 3 succeeded); nothing was stopped" in again.stderr
    )
