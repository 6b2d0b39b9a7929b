"""No child outlives its supervisor (issue 18, items 3 and 12), tested with real signals:
``kill -9`` of ``create --wait`` or of the detached supervisor, ``delete`` of a
``create --wait`` started in the background of a script (SIGINT ignored), and Ctrl-C
with children that ignore SIGTERM. Each child here also starts a grandchild, and
ignores SIGTERM: the hardest kind to stop."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import PY, prepare
from tests.conftest import Invoke

P = ("-p", "proj", "-d", "dev")
STUBBORN = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
    "print('up', flush=True); time.sleep(300)"
)
CHILDREN = 3


def _processes_of(name: str) -> list[int]:
    """This user's processes that carry the execution's name in their environment, and
    this test's store (another test run on the machine may use the same name)."""
    wanted = f"BATCHMAP_EXECUTION={name}".encode()
    store = f"BATCHMAP_OUTPUT_PREFIX={(Path.home() / '.batchmap').as_uri()}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if wanted in environ and any(v.startswith(store) for v in environ):
                found.append(int(entry.name))
    return found


def _until(condition, seconds: float = 60) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def stubborn(cli: Invoke, tmp_path: Path):
    """An exec file of CHILDREN stubborn children; whatever a test leaves running is
    SIGKILLed by pid afterwards, so a failing test never leaves processes behind."""
    exec_file = prepare(
        cli, tmp_path, [PY, "-c", STUBBORN], default=range(CHILDREN), concurrency=CHILDREN
    )
    names: list[str] = []
    yield exec_file, names
    for name in names:
        for pid in _processes_of(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _start(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "batchmap", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _all_up(name: str) -> bool:
    """Every child and grandchild runs its own program (not a fork on its way to it)."""
    running = []
    for pid in _processes_of(name):
        with contextlib.suppress(OSError):
            running += (
                [pid] if b"time.sleep(300)" in Path(f"/proc/{pid}/cmdline").read_bytes() else []
            )
    return len(running) == 2 * CHILDREN


def test_kill_9_of_create_wait_leaves_no_child_running(cli: Invoke, stubborn) -> None:
    exec_file, names = stubborn
    names.append("k9wait")
    proc = _start("create", "execution", *P, "--execFile", str(exec_file), "--wait", "k9wait")
    assert _until(lambda: _all_up("k9wait")), proc.stderr
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    assert _until(lambda: not _processes_of("k9wait"), 20), _processes_of("k9wait")
    result = cli("get", "execution", *P, "k9wait", "-o", "json")
    children = json.loads(result.stdout)["children"]
    assert all(c["status"] == "FAILED" and c["reason"].startswith("Lost") for c in children)
    started = time.monotonic()
    assert cli("delete", "execution", *P, "k9wait").exit_code == 0
    assert time.monotonic() - started < 30  # nothing to poll for: it is over


def test_kill_9_of_the_detached_supervisor_leaves_no_child_running(cli: Invoke, stubborn) -> None:
    exec_file, names = stubborn
    names.append("k9detached")
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "k9detached").exit_code == 0
    assert _until(lambda: _all_up("k9detached"))
    status = Path.home() / ".batchmap/store/proj/dev/k9detached/local/status.json"
    os.kill(json.loads(status.read_text())["pid"], signal.SIGKILL)
    assert _until(lambda: not _processes_of("k9detached"), 20), _processes_of("k9detached")
    phase = json.loads(cli("get", "execution", *P, "k9detached", "-o", "json").stdout)["status"]
    assert phase["phase"] == "FAILED" and phase["failed"] == CHILDREN
    watched = cli("get", "execution", *P, "k9detached", "--watch")
    assert watched.exit_code == 7  # the watch ends: a lost execution is over


def test_delete_stops_a_background_create_wait_that_ignores_sigint(cli: Invoke, stubborn) -> None:
    """A script's `batchmap create execution --wait &` runs with SIGINT ignored (POSIX
    shells do that to background jobs): SIGINT could not stop it."""
    exec_file, names = stubborn
    names.append("bg")
    proc = _start(
        "create", "execution", *P, "--execFile", str(exec_file), "--wait", "bg",
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert _until(lambda: _all_up("bg")), proc.stderr
    result = cli("delete", "execution", *P, "bg")
    assert result.exit_code == 0, result.stderr
    assert proc.wait(timeout=60) == 130
    assert _until(lambda: not _processes_of("bg"), 20), _processes_of("bg")
    children = json.loads(cli("get", "execution", *P, "bg", "-o", "json").stdout)["children"]
    assert all(c["status"] == "FAILED" for c in children)


def test_ctrl_c_stops_children_that_ignore_sigterm_all_at_once(cli: Invoke, stubborn) -> None:
    """SIGTERM to all, SIGKILL to all after one grace: not one grace per child."""
    from batchmap.backends.local.supervisor import KILL_GRACE
    from batchmap.executions.phase import INTERRUPTED_REASON
    from batchmap.times import parse_iso

    exec_file, names = stubborn
    names.append("ctrlc")
    proc = _start("create", "execution", *P, "--execFile", str(exec_file), "--wait", "ctrlc")
    assert _until(lambda: _all_up("ctrlc")), proc.stderr
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert _until(lambda: not _processes_of("ctrlc"), 20), _processes_of("ctrlc")
    children = json.loads(cli("get", "execution", *P, "ctrlc", "-o", "json").stdout)["children"]
    assert all(c["reason"] == INTERRUPTED_REASON for c in children)
    stops = sorted(parse_iso(c["stoppedAt"]) for c in children)
    # One after another, each child would take its own grace: the last would stop
    # (CHILDREN - 1) graces after the first.
    assert (stops[-1] - stops[0]).total_seconds() < KILL_GRACE
