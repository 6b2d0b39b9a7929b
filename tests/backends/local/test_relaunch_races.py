"""Relaunches of one root made at the same time (real processes, local backend): each
records itself under the root, so every one of them is merged into `--outputs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import PY, P, prepare, status
from tests.conftest import Invoke, Result, batchmap_process, wait_until

pytestmark = pytest.mark.server
N = 6
# Fails until the marker file exists; then, once the go file exists too (every relaunch
# has recorded itself: none may end before the others exist), outputs ten times its item.
FIXABLE = (
    "import json, os, sys, time; n = int(sys.argv[1]); ok = os.path.exists(sys.argv[2]); "
    "end = time.time() + 120\n"
    "while ok and not os.path.exists(sys.argv[3]) and time.time() < end: time.sleep(0.05)\n"
    "ok and json.dump(n * 10, open(os.environ['BATCHMAP_OUTPUT'], 'w')); sys.exit(0 if ok else 4)"
)


def test_concurrent_relaunches_all_appear_in_the_merged_outputs(
    cli: Invoke, tmp_path: Path
) -> None:
    marker, go = tmp_path / "fixed", tmp_path / "go"
    items = list(range(1, N + 1))
    command = [PY, "-c", FIXABLE, "{{ item }}", str(marker), str(go)]
    exec_file = prepare(cli, tmp_path, command, default=items, ratio=0.5)
    first = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "root")
    assert first.exit_code == 7, first.stderr
    marker.write_text("yes")
    processes = [
        batchmap_process("relaunch", *P, "root", "--index", str(i), "--wait", "--name", f"fix{i}")
        for i in range(N)
    ]
    wait_until(
        lambda: len(status(cli, "root").get("relaunches") or []) == N, "every relaunch to exist"
    )
    go.write_text("go")
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        results.append(Result(process.returncode, stdout, stderr))
    assert [r.exit_code for r in results] == [0] * N, [r.stderr for r in results]
    merged = cli("get", "execution", *P, "root", "--outputs", "-o", "json")
    assert json.loads(merged.stdout) == [n * 10 for n in items]
    table = cli("get", "execution", *P, "root", "--outputs").stdout.splitlines()[2:]
    assert [line.split()[-1] for line in table] == [f"fix{i}" for i in range(N)]
    relaunches = status(cli, "root")["relaunches"]
    assert sorted(r["name"] for r in relaunches) == sorted(f"fix{i}" for i in range(N))
