"""relaunch and delete execution on the local backend, with real processes."""

import json
from pathlib import Path

from tests.backends.local.test_local_backend import PY, P, prepare, status
from tests.conftest import Invoke, running_children, wait_until

# Fails for item 2 until a marker file exists: a failure that a relaunch fixes.
FLAKY = (
    "import json, os, sys; n = int(sys.argv[1]); idx = os.environ['BATCHMAP_INDEX']; "
    "ok = n != 2 or os.path.exists(sys.argv[2]); print('item', n, 'index', idx); "
    "ok and json.dump(n * 10, open(os.environ['BATCHMAP_OUTPUT'], 'w')); sys.exit(0 if ok else 4)"
)


def test_relaunch_failed_children_keeps_indexes_and_merges_outputs(
    cli: Invoke, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    exec_file = prepare(
        cli, tmp_path, [PY, "-c", FLAKY, "{{ item }}", str(marker)], default=[1, 2, 3, 2]
    )
    first = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "orig")
    assert first.exit_code == 7
    values = json.loads(cli("get", "execution", *P, "orig", "--outputs", "-o", "json").stdout)
    assert values == [10, None, 30, None]
    dry = cli("relaunch", *P, "orig", "--failed", "--dryRun", "-o", "json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["indexMap"] == [1, 3]
    assert len(json.loads(cli("get", "execution", *P, "-o", "json").stdout)) == 1
    marker.write_text("yes")
    again = cli("relaunch", *P, "orig", "--failed", "--wait", "--name", "fix1")
    assert again.exit_code == 0, again.stderr
    assert "relaunched 2 children of orig as fix1: 1,3" in again.stderr
    data = status(cli, "fix1")
    assert data["relaunchOf"] == "orig" and data["root"] == "orig"
    assert sorted(c["index"] for c in data["children"]) == [1, 3]  # original indexes
    assert "[1] item 2 index 1" in cli("logs", *P, "fix1").stdout
    merged = cli("get", "execution", *P, "orig", "--outputs")
    assert [line.split()[1:] for line in merged.stdout.splitlines()[2:]] == [
        ["10", "orig"],
        ["20", "fix1"],
        ["30", "orig"],
        ["20", "fix1"],
    ]
    # A relaunch of the relaunch, by index, still maps to the root.
    third = cli("relaunch", *P, "fix1", "--index", "3", "--wait", "--name", "fix2")
    assert third.exit_code == 0, third.stderr
    assert status(cli, "fix2")["indexMap"] == [3]
    assert json.loads(cli("get", "execution", *P, "orig", "--outputs", "-o", "json").stdout) == [
        10,
        20,
        30,
        20,
    ]
    out_of_range = cli("relaunch", *P, "fix1", "--index", "0")
    assert out_of_range.exit_code == 2 and "not a child of execution 'fix1'" in out_of_range.stderr


def test_nothing_to_relaunch_is_not_an_error(cli: Invoke, tmp_path: Path) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", "print(1)"], default=[1])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "ok").exit_code == 0
    )
    result = cli("relaunch", *P, "ok", "--failed")
    assert result.exit_code == 0 and "nothing to relaunch" in result.stderr
    assert cli("relaunch", *P, "ok").exit_code == 2


def test_terminate_a_running_execution_and_a_finished_one(cli: Invoke, tmp_path: Path) -> None:
    sleeper = [PY, "-c", "import time; print('start', flush=True); time.sleep(60)"]
    exec_file = prepare(cli, tmp_path, sleeper, default=[1, 2, 3])
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "run").exit_code == 0
    wait_until(lambda: running_children("run") > 0, "the execution to run a child")
    dry = cli("delete", "execution", *P, "run", "--dryRun")
    assert dry.exit_code == 0 and "dry run: would stop" in dry.stderr
    result = cli("terminate", "execution", *P, "run", "--reason", "no longer needed")
    assert result.exit_code == 0, result.stderr
    data = status(cli, "run")
    assert data["terminated"]["reason"] == "no longer needed"
    assert {c["status"] for c in data["children"]} == {"FAILED"}
    again = cli("delete", "execution", *P, "run")
    assert again.exit_code == 0 and "already finished" in again.stderr
