"""Two `create execution` of one name at the same time on the local backend, detached and
with --wait, as real processes: exactly one submits, the other exits 3, and every child
runs once (two supervisors would run each child twice)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import PY, P, prepare
from tests.conftest import Invoke, Result, batchmap_process

pytestmark = pytest.mark.server
ROUNDS = 10
# Each child appends its item to the round's marker file (O_APPEND: whole lines).
MARK = "import sys; open(sys.argv[2], 'a').write(sys.argv[1] + '\\n')"


def _race(exec_file: Path, name: str, offset: float, *extra: str) -> list[Result]:
    args = ("create", "execution", *P, "--execFile", str(exec_file), name, *extra)
    first = batchmap_process(*args)
    time.sleep(offset)
    second = batchmap_process(*args)
    results = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=120)
        results.append(Result(process.returncode, stdout, stderr))
    return results


def _finished(cli: Invoke, name: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        data = json.loads(cli("get", "execution", *P, name, "--all", "-o", "json").stdout)
        if data["status"]["phase"] != "RUNNING" or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["detached", "wait"])
def test_of_two_racing_creators_exactly_one_submits(cli: Invoke, tmp_path: Path, mode: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    items = [1, 2, 3]
    exec_file = prepare(cli, tmp_path, [PY, "-c", MARK, "{{ item }}", str(marks / "{{ index }}")])
    stopped_by_lock = 0
    for round_ in range(ROUNDS):
        name = f"race-{round_}"
        extra = ("--wait",) if mode == "wait" else ()
        results = _race(exec_file, name, 0.02 * round_, *extra)
        assert sorted(r.exit_code for r in results) == [0, 3], [r.stderr for r in results]
        loser = next(r for r in results if r.exit_code == 3)
        assert "Traceback" not in loser.stderr
        if "is being created by pid" in loser.stderr:
            stopped_by_lock += 1
        else:
            assert f"execution '{name}' exists" in loser.stderr, loser.stderr
        data = _finished(cli, name)
        assert data["status"]["phase"] == "SUCCEEDED", data["status"]
        for index in range(len(items)):  # every child ran exactly once
            runs = (marks / str(index)).read_text().splitlines()
            assert runs == [str(items[index])] * (round_ + 1), (round_, index, runs)
    print(f"{mode}: {stopped_by_lock} of {ROUNDS} losers stopped by the lock")
