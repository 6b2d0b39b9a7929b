"""The local backend with real processes: the map runs, fails, retries and stops as on
AWS Batch, and other terminals can watch it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchmap.backends.local.supervisor import Supervisor
from batchmap.executions.phase import INTERRUPTED_REASON
from tests.conftest import Invoke, installed, running_children, wait_until, write

P = ("-p", "proj", "-d", "dev")
PY = sys.executable
SQUARE = (
    "import json, os, sys; n = int(sys.argv[1]); print('item', n); "
    "json.dump(n * n, open(os.environ['BATCHMAP_OUTPUT'], 'w'))"
)


def launch_plan(
    tmp: Path,
    command: list[str],
    *,
    name: str = "lp",
    items_type: str = "list[int]",
    default: object = (1, 2, 3),
    ratio: float = 1.0,
    retries: int = 0,
    concurrency: int = 2,
    extra_task: str = "",
) -> Path:
    text = (
        f"project: proj\ndomain: dev\nname: {name}\nversion: v1\n"
        f"inputs:\n  xs:\n    type: {items_type}\n    default: {json.dumps(list(default))}\n"
        f"map:\n  over: [xs]\n  minSuccessRatio: {ratio}\n  concurrency: {concurrency}\n"
        f"task:\n  image: busybox\n  retries: {retries}\n  command: {json.dumps(command)}\n"
        + extra_task
    )
    return write(tmp / f"{name}.yaml", text)


def prepare(cli: Invoke, tmp: Path, command: list[str], **kw: object) -> Path:
    path = launch_plan(tmp, command, **kw)
    assert cli("register", "files", str(path)).exit_code == 0
    exec_file = tmp / "exec.yaml"
    result = cli(
        "get", "launchplan", *P, str(kw.get("name", "lp")), "--execFile", str(exec_file), "--force"
    )
    assert result.exit_code == 0, result.stderr
    return exec_file


def status(cli: Invoke, name: str) -> dict:
    result = cli("get", "execution", *P, name, "--all", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_success_with_outputs_and_logs(cli: Invoke, tmp_path: Path) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", SQUARE, "{{ item }}"], default=range(1, 6))
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "sq")
    assert result.exit_code == 0, result.stderr
    assert "SUCCEEDED: 5 of 5 children succeeded" in result.stderr
    outputs = cli("get", "execution", *P, "sq", "--outputs", "-o", "json")
    assert json.loads(outputs.stdout) == [1, 4, 9, 16, 25]
    logs = cli("logs", *P, "sq")
    assert logs.stdout.splitlines() == [f"[{i}] item {i + 1}" for i in range(5)]
    data = status(cli, "sq")
    assert data["status"]["phase"] == "SUCCEEDED"
    assert [c["exitCode"] for c in data["children"]] == [0] * 5
    listed = json.loads(cli("get", "execution", *P, "-o", "json").stdout)
    assert [e["name"] for e in listed] == ["sq"]


def test_create_wait_reads_its_ended_supervisor_from_memory(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary of a `create --wait` comes from the supervisor it ran (its final state),
    not from reading back and checking the status file it has just written; other
    commands read the file, and it says the same."""
    from batchmap.backends.local import backend as module

    checked: list[int] = []
    real = module._status_problem

    def spy(data: object, size: int) -> object:
        checked.append(size)
        return real(data, size)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_status_problem", spy)
    exec_file = prepare(cli, tmp_path, [PY, "-c", SQUARE, "{{ item }}"], default=[1, 2, 3])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "mem")
    assert result.exit_code == 0, result.stderr
    assert "SUCCEEDED: 3 of 3 children succeeded" in result.stderr
    assert checked == []
    data = status(cli, "mem")
    assert checked == [3]
    assert data["status"]["phase"] == "SUCCEEDED"
    assert [c["exitCode"] for c in data["children"]] == [0, 0, 0]


def test_the_same_name_is_never_submitted_twice(cli: Invoke, tmp_path: Path) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", SQUARE, "{{ item }}"])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "x").exit_code == 0
    )
    again = cli("create", "execution", *P, "--execFile", str(exec_file), "x")
    assert again.exit_code == 3
    assert "execution 'x' exists" in again.stderr and "get execution" in again.stderr


def test_failure_below_the_ratio_exits_7_and_above_it_0(cli: Invoke, tmp_path: Path) -> None:
    fail_on_2 = [
        PY,
        "-c",
        "import sys; n = int(sys.argv[1]); print('n', n); sys.exit(n == 2)",
        "{{ item }}",
    ]
    exec_file = prepare(cli, tmp_path, fail_on_2, default=[1, 2, 3, 4])
    below = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "below")
    assert below.exit_code == 7
    assert "3 of 4 children succeeded, 4 needed" in below.stderr
    failed = status(cli, "below")["children"][0]
    assert (failed["index"], failed["status"], failed["exitCode"]) == (1, "FAILED", 1)
    assert failed["reason"] == "exited with code 1"
    assert json.loads(cli("get", "execution", *P, "below", "--outputs", "-o", "json").stdout) == [
        None,
        None,
        None,
        None,
    ]  # the command writes no output; failed children never do
    exec_file = prepare(cli, tmp_path, fail_on_2, name="lenient", default=[1, 2, 3, 4], ratio=0.75)
    above = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "above")
    assert above.exit_code == 0, above.stderr


def test_retries_run_another_attempt(cli: Invoke, tmp_path: Path) -> None:
    flaky = [
        PY,
        "-c",
        "import os, sys; a = int(os.environ['AWS_BATCH_JOB_ATTEMPT']); "
        "print('attempt', a); sys.exit(0 if a == 2 else 5)",
    ]
    exec_file = prepare(cli, tmp_path, flaky, default=[1], retries=2)
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "flaky")
    assert result.exit_code == 0, result.stderr
    child = status(cli, "flaky")["children"][0]
    assert [a["exitCode"] for a in child["attempts"]] == [5, 0]
    logs = cli("logs", *P, "flaky").stdout.splitlines()
    assert logs == ["[0] attempt 1", "[0#2] attempt 2"]
    assert cli("logs", *P, "flaky", "--attempt", "2").stdout.splitlines() == ["[0#2] attempt 2"]


def test_a_map_of_one_item_and_hostile_strings(cli: Invoke, tmp_path: Path) -> None:
    echo = [
        PY,
        "-c",
        "import json, os, sys; json.dump(sys.argv[1], open(os.environ['BATCHMAP_OUTPUT'], 'w'))",
        "{{ item }}",
    ]
    hostile = ['it\'s "quoted"; $(rm -rf ~) `x` | & > /tmp/x']
    exec_file = prepare(cli, tmp_path, echo, items_type="list[str]", default=hostile)
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "one").exit_code == 0
    )
    assert (
        json.loads(cli("get", "execution", *P, "one", "--outputs", "-o", "json").stdout) == hostile
    )


def test_attempt_timeouts_kill_the_child_and_are_not_retried(tmp_path: Path) -> None:
    from batchmap import times
    from batchmap.executions.manifest import Manifest
    from batchmap.files.store import LocalStore
    from batchmap.launchplans.model import LaunchPlan
    from batchmap.launchplans.parse import parse_files
    from batchmap.tasks.base import ChildSpec
    from batchmap.tasks.staging import stage

    sleeper = [PY, "-c", "import time; time.sleep(30)"]
    plan = parse_files([launch_plan(tmp_path, sleeper, default=[1])])[0]
    store = LocalStore(tmp_path / "store")
    staged = stage(store, "proj/dev/t", plan, {"xs": [1]})
    plan = LaunchPlan.from_spec(
        {
            **plan.spec_dict(),
            "map": {"over": ["xs"], "concurrency": 1},
            "task": {**plan.spec_dict()["task"], "retries": 3, "timeout": 1},
        }
    )
    manifest = Manifest(
        name="t",
        project="proj",
        domain="dev",
        launch_plan=plan,
        backend="local",
        size=1,
        child=ChildSpec(tuple(sleeper)),
        inputs_uri=staged.inputs_uri,
        output_prefix=store.uri("proj/dev/t/outputs"),
        created_at=times.now(),
    )
    supervisor = Supervisor(store.path("proj/dev/t"), manifest)
    started = time.monotonic()
    supervisor.run()
    assert time.monotonic() - started < 15
    child = supervisor.children[0]
    assert child["status"] == "FAILED"
    assert len(child["attempts"]) == 1
    assert child["attempts"][0]["reason"] == "Job attempt duration exceeded timeout"


def test_a_command_that_does_not_exist_fails_with_127(cli: Invoke, tmp_path: Path) -> None:
    exec_file = prepare(cli, tmp_path, ["/no/such/command", "{{ item }}"], default=[1])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "nf")
    assert result.exit_code == 7
    child = status(cli, "nf")["children"][0]
    assert child["exitCode"] == 127
    assert "cannot start '/no/such/command'" in cli("logs", *P, "nf").stdout


def test_dry_run_changes_nothing(cli: Invoke, tmp_path: Path, isolated: Path) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", SQUARE, "{{ item }}"])
    result = cli(
        "create", "execution", *P, "--execFile", str(exec_file), "--dryRun", "-o", "json", "dry"
    )
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["name"], plan["size"], plan["minSuccesses"]) == ("dry", 3, 3)
    assert plan["local"]["command"][:2] == ["batchmap-task", "--"]
    assert not (isolated / ".batchmap" / "store" / "proj").exists()


def _batchmap(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [installed(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_detached_run_and_follow_from_another_process(cli: Invoke, tmp_path: Path) -> None:
    slow = [
        PY,
        "-c",
        "import sys, time; [print(sys.argv[1], k, flush=True) or time.sleep(0.2) "
        "for k in range(3)]",
        "{{ item }}",
    ]
    exec_file = prepare(cli, tmp_path, slow, default=[1, 2, 3, 4])
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "bg")
    assert created.exit_code == 0, created.stderr
    follower = _batchmap("logs", *P, "bg", "--follow", env=dict(os.environ))
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert sorted(lines) == sorted(f"[{i}] {i + 1} {k}" for i in range(4) for k in range(3))
    assert status(cli, "bg")["status"]["phase"] == "SUCCEEDED"


def test_ctrl_c_stops_the_children_and_exits_130(cli: Invoke, tmp_path: Path) -> None:
    sleeper = [PY, "-c", "import time; print('start', flush=True); time.sleep(60)"]
    exec_file = prepare(cli, tmp_path, sleeper, default=[1, 2, 3])
    proc = _batchmap(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "--wait",
        "int",
        env=dict(os.environ),
    )
    wait_until(lambda: running_children("int") > 0, "the execution to run a child")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: stopped the running children of int; it is ABORTED" in err
    data = status(cli, "int")
    assert data["state"] == "FINISHED" and data["status"]["phase"] == "ABORTED"
    assert data["terminated"]["reason"] == INTERRUPTED_REASON
    assert {c["status"] for c in data["children"]} == {"FAILED"}
    assert {c["reason"] for c in data["children"]} == {INTERRUPTED_REASON}


@pytest.mark.parametrize("bad", ["--index", "--status"])
def test_bad_selectors_are_usage_errors(cli: Invoke, tmp_path: Path, bad: str) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", SQUARE, "{{ item }}"])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "s").exit_code == 0
    )
    value = "99" if bad == "--index" else "DONE"
    result = cli("get", "execution", *P, "s", bad, value)
    assert result.exit_code == 2, result.stderr


def test_missing_execution_exits_4(cli: Invoke) -> None:
    result = cli("get", "execution", *P, "nope")
    assert result.exit_code == 4 and "execution 'nope' not found" in result.stderr
    assert cli("logs", *P, "nope").exit_code == 4


def test_parse_since() -> None:
    import datetime as dt

    from batchmap.cli.selection import parse_since

    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
    assert parse_since("10m", now) == now - dt.timedelta(minutes=10)
    assert parse_since("2d", now) == now - dt.timedelta(days=2)
    assert parse_since("2026-01-01T11:00:00", now) == now - dt.timedelta(hours=1)
    assert parse_since("2026-01-01T11:00:00Z", now) == now - dt.timedelta(hours=1)
    assert parse_since(None) is None


def test_a_finished_execution_is_read_once_until_its_status_changes(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts, children and a snapshot of a finished execution: one read of its status
    file (a command looks at it several times); a changed file is read again."""
    from batchmap.api import Batchmap
    from batchmap.backends.base import ChildQuery
    from batchmap.backends.local.backend import LocalBackend

    exec_file = prepare(cli, tmp_path, [PY, "-c", "pass", "{{ item }}"])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "once").exit_code
        == 0
    )
    reads: list[str] = []
    real = LocalBackend._status
    monkeypatch.setattr(LocalBackend, "_status", lambda s, m: reads.append(m.name) or real(s, m))
    bm = Batchmap.open()
    manifest = bm.executions.get("proj", "dev", "once")
    backend = bm.backend("local")
    assert backend.counts(manifest)["SUCCEEDED"] == 3
    assert len(backend.children(manifest, ChildQuery())) == 3
    assert len(backend.snapshot(manifest, ChildQuery()).children) == 3
    assert reads == ["once"]
    path = Path.home() / ".batchmap/store/proj/dev/once/local/status.json"
    data = json.loads(path.read_text())
    data["children"][0]["status"] = "FAILED"
    path.write_text(json.dumps(data, indent=1))
    assert backend.counts(manifest)["FAILED"] == 1
    assert reads == ["once", "once"]
