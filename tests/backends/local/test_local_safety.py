"""The local backend against hostile children and forged state (issue 18, items 6, 8, 9
and 11): only a proven supervisor is signalled, only the execution's own files are read,
state is private, and one bad child fails alone — the supervisor never dies of it, and
an execution whose supervisor died is never RUNNING forever."""

import errno
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import PY, launch_plan, prepare
from tests.conftest import Invoke

P = ("-p", "proj", "-d", "dev")
REAL_KILL = os.kill  # the tests' own clean-up, beside the `signals` fixture's recorder
KEEP = "import json, os, sys; json.dump(sys.argv[1], open(os.environ['BATCHMAP_OUTPUT'], 'w'))"


def _folder(name: str) -> Path:
    return Path.home() / ".batchmap" / "store" / "proj" / "dev" / name


def _status(name: str) -> dict:
    return json.loads((_folder(name) / "local" / "status.json").read_text())


def _children(cli: Invoke, name: str) -> list[dict]:
    result = cli("get", "execution", *P, name, "--all", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return sorted(json.loads(result.stdout)["children"], key=lambda c: c["index"])


def _forge_running(name: str, **fields: object) -> None:
    """Make a finished execution's status say it runs, under whatever supervisor."""
    path = _folder(name) / "local" / "status.json"
    data = json.loads(path.read_text())
    data.pop("supervisor")
    data.update(finished=False, **fields)
    for child in data["children"]:
        child["status"] = "RUNNING"
    path.write_text(json.dumps(data))


def _identity(pid: int) -> dict:
    """A process's identity as a supervisor records it (process.py), read from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return {
        "pid": pid,
        "start": stat[stat.rfind(b")") + 2 :].split()[19].decode(),
        "uid": os.getuid(),
        "cmdline": [a.decode() for a in cmdline if a],
    }


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every signal batchmap sends in this process, recorded and not sent: a regression
    here must never signal pid -1 (every process we may signal) or pid 1."""
    sent: list[tuple[str, int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append(("kill", pid, sig)))
    monkeypatch.setattr(os, "killpg", lambda pid, sig: sent.append(("killpg", pid, sig)))
    monkeypatch.setattr(
        signal, "pidfd_send_signal", lambda fd, sig, *a: sent.append(("pidfd", fd, sig))
    )
    return sent


@pytest.mark.parametrize("forged", ["minus-one", "one", "unrelated", "stale-identity"])
def test_delete_signals_no_process_a_status_file_merely_names(
    cli: Invoke, tmp_path: Path, forged: str, signals: list
) -> None:
    exec_file = prepare(cli, tmp_path, [PY, "-c", "print(1)"], default=[1, 2])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "f").exit_code == 0
    )
    bystander = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])
    try:
        pid = {"minus-one": -1, "one": 1}.get(forged, bystander.pid)
        record = _identity(bystander.pid) | {"pid": pid}
        if forged == "stale-identity":  # its pid, but not its start time: a reused pid
            record["start"] = str(int(record["start"]) - 1)
        fields = {"pid": pid} if forged != "stale-identity" else {"pid": pid, "supervisor": record}
        if forged in ("minus-one", "one"):
            fields["supervisor"] = record
        _forge_running("f", **fields)
        result = cli("delete", "execution", *P, "f", "--no-wait")
        assert result.exit_code == 0, result.stderr
        assert not [s for s in signals if s[1] in (-1, 1, bystander.pid)], signals
        assert bystander.poll() is None
        assert all(c["status"] == "FAILED" for c in _children(cli, "f"))  # lost, not RUNNING
    finally:
        REAL_KILL(bystander.pid, signal.SIGKILL)
        bystander.wait()


def test_identities_refuse_pids_up_to_one_and_other_processes() -> None:
    from batchmap.backends.local import process as processes

    me = processes.current()
    assert me.to_dict() == _identity(os.getpid())
    assert processes.alive(me) and me.pid == os.getpid()
    assert processes.identity_of(1) is None and processes.identity_of(-1) is None
    assert not processes.send(processes.Identity(-1, me.start, me.uid, ()), 0)
    assert not processes.send(processes.Identity(1, me.start, me.uid, ()), 0)
    other = processes.Identity(me.pid, str(int(me.start) + 1), me.uid, me.cmdline)
    assert not processes.alive(other) and not processes.send(other, 0)
    assert processes.send(me, 0)  # signal 0: only asks whether it could be sent


def test_logs_read_only_the_execution_s_own_log_files(cli: Invoke, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret\n")
    exec_file = prepare(cli, tmp_path, [PY, "-c", "print('mine')"], default=[1])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "l").exit_code == 0
    )
    path = _folder("l") / "local" / "status.json"
    data = json.loads(path.read_text())
    data["children"][0]["attempts"][0]["log"] = str(secret)
    path.write_text(json.dumps(data))
    assert cli("logs", *P, "l").stdout == "[0] mine\n"
    log = _folder("l") / "logs" / "0.1.log"
    log.unlink()
    log.symlink_to(secret)  # a child may replace its own log by a link
    shown = cli("logs", *P, "l")
    assert shown.exit_code == 0 and "the secret" not in shown.stdout


def test_an_execution_from_before_the_flat_log_layout_shows_its_logs(
    cli: Invoke, tmp_path: Path
) -> None:
    """Status files that name no layout are older: logs/INDEX/ATTEMPT.log. A layout the
    file names but batchmap does not know is read the old way too (never as a path)."""
    exec_file = prepare(cli, tmp_path, [PY, "-c", "print('mine')"], default=[1, 2])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "o").exit_code == 0
    )
    logs = _folder("o") / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["0.1.log", "1.1.log"]
    assert cli("logs", *P, "o").stdout == "[0] mine\n[1] mine\n"
    for index in (0, 1):
        (logs / str(index)).mkdir()
        (logs / f"{index}.1.log").rename(logs / str(index) / "1.log")
    path = _folder("o") / "local" / "status.json"
    for layout in (None, "../../etc"):
        data = json.loads(path.read_text())
        if layout is None:
            del data["logs"]
        else:
            data["logs"] = layout
        path.write_text(json.dumps(data))
        assert cli("logs", *P, "o").stdout == "[0] mine\n[1] mine\n", layout


@pytest.mark.parametrize("trick", ["symlink", "directory", "fifo"])
def test_a_child_cannot_publish_through_a_hostile_output(
    cli: Invoke, tmp_path: Path, trick: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text('"the secret"')
    make = {
        "symlink": f"os.symlink({str(secret)!r}, out)",
        "directory": "os.mkdir(out)",
        "fifo": "os.mkfifo(out)",
    }[trick]
    code = (
        "import json, os, sys; out = os.environ['BATCHMAP_OUTPUT']; "
        f"{make} if sys.argv[1] == '2' else json.dump(sys.argv[1], open(out, 'w'))"
    )
    exec_file = prepare(cli, tmp_path, [PY, "-c", code, "{{ item }}"], default=[1, 2, 3])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "o")
    assert result.exit_code == 7, result.stderr  # the run ends: one child failed, alone
    children = _children(cli, "o")
    assert [c["status"] for c in children] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert "the output was not stored" in children[1]["reason"]
    assert "$BATCHMAP_OUTPUT is not a regular file" in children[1]["reason"]
    outputs = json.loads(cli("get", "execution", *P, "o", "--outputs", "-o", "json").stdout)
    assert outputs == ["1", None, "3"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("a\x00b", "inputs.xs[1]: argument 3 of its command holds a NUL byte"),
        ("x" * 200_000, "inputs.xs[1]: argument 3 of its command is 200,000 bytes, over the"),
    ],
)
def test_items_no_program_can_receive_are_refused_before_staging(
    cli: Invoke, tmp_path: Path, item: str, expected: str
) -> None:
    command = [PY, "-c", KEEP, "{{ item }}"]
    exec_file = prepare(cli, tmp_path, command, items_type="list[str]", default=["x"])
    exec_file.write_text(
        json.dumps({"version": "v1", "workflow": "lp", "inputs": {"xs": ["ok", item]}})
    )
    for wait in ([], ["--wait"]):
        result = cli("create", "execution", *P, "--execFile", str(exec_file), *wait, "big")
        assert result.exit_code == 3, result.stderr
        assert expected in result.stderr
    assert not _folder("big").exists()  # nothing staged, nothing recorded


def _supervise(tmp_path: Path, command: list[str], items: list[int], **task: object):
    """A Supervisor over a staged execution, run in this process."""
    from batchmap import times
    from batchmap.backends.local.supervisor import Supervisor
    from batchmap.executions.manifest import Manifest
    from batchmap.files.store import LocalStore
    from batchmap.launchplans.model import LaunchPlan
    from batchmap.launchplans.parse import parse_files
    from batchmap.tasks.base import ChildSpec
    from batchmap.tasks.staging import stage

    plan = parse_files([launch_plan(tmp_path, command, default=items)])[0]
    plan = LaunchPlan.from_spec({**plan.spec_dict(), "task": {**plan.spec_dict()["task"], **task}})
    store = LocalStore(tmp_path / "store")
    staged = stage(store, "proj/dev/t", plan, {"xs": items})
    manifest = Manifest(
        name="t",
        project="proj",
        domain="dev",
        launch_plan=plan,
        backend="local",
        size=len(items),
        child=ChildSpec(tuple(command)),
        inputs_uri=staged.inputs_uri,
        output_prefix=store.uri("proj/dev/t/outputs"),
        created_at=times.now(),
    )
    return Supervisor(store.path("proj/dev/t"), manifest), store.path("proj/dev/t")


def test_a_truncated_items_index_fails_its_children_alone(tmp_path: Path) -> None:
    supervisor, folder = _supervise(tmp_path, [PY, "-c", "print(1)", "{{ item }}"], [1, 2, 3])
    index = folder / "items.idx"
    index.write_bytes(index.read_bytes()[:20])  # entries 0 and 1 whole-ish, 2 and 3 gone
    supervisor.run()
    statuses = [c["status"] for c in supervisor.children]
    assert statuses == ["SUCCEEDED", "FAILED", "FAILED"]
    reasons = [c["attempts"][-1]["reason"] for c in supervisor.children[1:]]
    assert all("exited with code 70" in r for r in reasons)
    assert "the staged inputs are" in (folder / "logs" / "2.1.log").read_text()
    assert supervisor.finished


def test_attempts_prepared_ahead_are_each_their_own_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attempts are prepared in batches (supervisor._prepared): each is prepared once,
    with its own index, item and attempt number; a retry only after its first attempt
    failed; and what was prepared ahead is written through the slot that runs it."""
    from batchmap.backends.local import supervisor as module

    script = 'echo "$AWS_BATCH_JOB_ARRAY_INDEX $AWS_BATCH_JOB_ATTEMPT {{ item }}"; '
    script += 'test "$AWS_BATCH_JOB_ATTEMPT" = 2 || exit 3'
    items = list(range(100, 170))
    supervisor, folder = _supervise(tmp_path, ["/bin/sh", "-c", script], items, retries=1)
    prepared: list[tuple[int, int]] = []
    misses: list[tuple[int, int]] = []
    real_prepare, real_prepared = module.Supervisor._prepare, module.Supervisor._prepared

    def spy_prepare(self: module.Supervisor, index: int, number: int) -> object:
        prepared.append((index, number))
        if number == 2:  # its first attempt has ended, failed
            assert self.children[index]["attempts"][0]["exitCode"] == 3
        return real_prepare(self, index, number)

    def spy_prepared(self: module.Supervisor, index: int, number: int) -> object:
        if (index, number) not in self._ready:
            misses.append((index, number))
        ready = real_prepared(self, index, number)
        assert ready.store is self._stores.store  # type: ignore[attr-defined]
        return ready

    monkeypatch.setattr(module.Supervisor, "_prepare", spy_prepare)
    monkeypatch.setattr(module.Supervisor, "_prepared", spy_prepared)
    supervisor.run()
    assert [c["status"] for c in supervisor.children] == ["SUCCEEDED"] * 70
    every = [(i, a) for i in range(70) for a in (1, 2)]
    assert sorted(prepared) == every  # each attempt once
    assert len(misses) < 10  # in batches, not one at a time
    for i, item in enumerate(items):
        for attempt in (1, 2):
            log = (folder / "logs" / f"{i}.{attempt}.log").read_text().splitlines()
            assert log[1:] == [f"{i} {attempt} {item}"]


def test_an_attempt_prepared_ahead_whose_log_fails_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt that fails before it is taken (its log could not be opened) leaves
    nothing prepared behind: a map on a disk that fails now and then must not hold on to
    the prepared attempts of every child it failed."""
    from batchmap.backends.local import supervisor as module

    supervisor, _ = _supervise(tmp_path, ["/bin/sh", "-c", "exit 0"], list(range(120)), retries=1)
    real = module.Supervisor._open_log

    def flaky(self: module.Supervisor, index: int, number: int) -> int:
        if index % 3 == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, index, number)

    monkeypatch.setattr(module.Supervisor, "_open_log", flaky)
    supervisor.run()
    statuses = [c["status"] for c in supervisor.children]
    assert statuses == ["FAILED" if i % 3 == 0 else "SUCCEEDED" for i in range(120)]
    assert supervisor._ready == {}


def test_nothing_is_prepared_ahead_once_every_child_stops(tmp_path: Path) -> None:
    """After a stop, a slot prepares at most the attempt it is starting (which is stopped
    at once), never a batch of children that will not start."""
    import collections

    from batchmap.backends.local.supervisor import PREPARE_AHEAD

    supervisor, _ = _supervise(tmp_path, ["/bin/sh", "-c", "exit 0"], list(range(100)))
    supervisor.scratch = str(tmp_path)
    supervisor._queue = collections.deque(range(1, 100))
    supervisor._prepared(0, 1)
    assert len(supervisor._ready) == PREPARE_AHEAD - 1  # prepared with the next ones
    supervisor._ready.clear()
    supervisor._ending = "stopped"
    assert supervisor._prepared(0, 1).index == 0
    assert supervisor._ready == {}


def test_events_the_disk_refuses_are_kept_whole_and_encoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.backends.local import records as module

    events = module.Events(tmp_path / "events.jsonl")
    encoded: list[object] = []
    real_encode, real_write = module._ENCODE, os.write

    def encode(event: object) -> str:
        encoded.append(event)
        return real_encode(event)

    def full(fd: int, data: object) -> int:
        if fd == events.fd:
            real_write(fd, b'{"i":0,')  # a part lands, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_ENCODE", encode)
    events.add({"i": 0, "a": 1, "at": "t0"})
    events.add({"i": 1, "a": 1, "at": "t1"})
    monkeypatch.setattr(module.os, "write", full)
    events.write(events.take())
    events.write(events.take())  # still full
    assert (tmp_path / "events.jsonl").read_bytes() == b""
    monkeypatch.setattr(module.os, "write", real_write)
    events.add({"i": 0, "a": 1, "end": "t2", "code": 0, "reason": None, "status": "SUCCEEDED"})
    events.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"i": 0, "a": 1, "at": "t0"},
        {"i": 1, "a": 1, "at": "t1"},
        {"i": 0, "a": 1, "end": "t2", "code": 0, "reason": None, "status": "SUCCEEDED"},
    ]
    assert len(encoded) == 3


def test_create_wait_on_a_full_disk_says_what_later_readers_will_read(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the supervisor cannot write its final status (a full disk), `create --wait`
    does not report its memory: it reads what every later reader will read (children
    lost), so its summary, its exit code and a later `relaunch --failed` agree."""
    from batchmap.backends.local import backend as backend_module
    from batchmap.backends.local import records, supervisor

    real = records.write_json

    def full(path: Path, data: dict) -> None:
        if data.get("finished"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)

    monkeypatch.setattr(supervisor, "write_json", full)
    monkeypatch.setattr(records.Events, "write", lambda self, events: None)  # refused too
    exec_file = prepare(cli, tmp_path, [PY, "-c", KEEP, "{{ item }}"], default=[1, 2, 3])
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "full")
    monkeypatch.setattr(backend_module.process, "alive", lambda *_: False)  # later: gone
    later = json.loads(cli("get", "execution", *P, "full", "--all", "-o", "json").stdout)
    assert later["status"]["phase"] == "FAILED"
    assert created.exit_code == 7, created.stderr
    assert "0 of 3 children succeeded" in created.stderr


def test_a_full_disk_fails_a_child_alone_and_the_supervisor_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.backends.local import supervisor as module

    supervisor, folder = _supervise(tmp_path, [PY, "-c", "print(1)", "{{ item }}"], [1, 2, 3])
    real = module.Supervisor._open_log

    def full(self: object, index: int, number: int) -> int:  # child 1's log: a full disk
        if index == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, index, number)

    monkeypatch.setattr(module.Supervisor, "_open_log", full)
    supervisor.run()
    assert [c["status"] for c in supervisor.children] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    reason = supervisor.children[1]["attempts"][-1]["reason"]
    assert reason == "batchmap-task: the child could not start: No space left on device"
    assert json.loads((folder / "local" / "status.json").read_text())["finished"] is True


def test_a_supervisor_that_fails_records_every_child_as_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.backends.local.supervisor import Supervisor

    supervisor, folder = _supervise(tmp_path, [PY, "-c", "print(1)", "{{ item }}"], [1, 2, 3])

    def broken(*_: object) -> bool:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Supervisor, "_poll", broken)
    with pytest.raises(RuntimeError):
        supervisor.run()
    status = json.loads((folder / "local" / "status.json").read_text())
    assert status["finished"] and all(c["status"] == "FAILED" for c in status["children"])
    assert "Lost: the local supervisor failed (a bug)" in json.dumps(status)


def test_a_detached_supervisor_that_died_before_starting_is_not_waited_for(
    cli: Invoke, tmp_path: Path
) -> None:
    from batchmap.backends.local import process as processes
    from batchmap.backends.local.backend import NEVER_STARTED

    exec_file = prepare(cli, tmp_path, [PY, "-c", "print(1)"], default=[1, 2])
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "d").exit_code == 0
    )
    short = subprocess.Popen([PY, "-c", "pass"])
    dead = processes.identity_of(short.pid)
    short.wait()
    assert dead is not None and not processes.alive(dead)
    manifest = _folder("d") / "execution.json"
    data = json.loads(manifest.read_text())
    data["run"]["local"] = {"mode": "detached", "pid": dead.pid, "supervisor": dead.to_dict()}
    manifest.write_text(json.dumps(data))
    (_folder("d") / "local" / "status.json").unlink()
    children = _children(cli, "d")
    assert [c["status"] for c in children] == ["FAILED", "FAILED"]
    assert children[0]["reason"] == NEVER_STARTED


def test_state_is_private_whatever_the_umask(cli: Invoke, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        exec_file = prepare(cli, tmp_path, [PY, "-c", KEEP, "{{ item }}"], default=[1])
        result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "p")
        assert result.exit_code == 0, result.stderr
    finally:
        os.umask(previous)
    root = Path.home() / ".batchmap"
    wide = [
        (str(path.relative_to(root)), oct(path.stat().st_mode & 0o777))
        for path in [root, *root.rglob("*")]
        if path.stat().st_mode & 0o077
    ]
    assert wide == []
    assert exec_file.stat().st_mode & 0o777 == 0o600


def test_an_output_is_read_only_as_a_regular_file_and_up_to_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the child reads from `$BATCHMAP_OUTPUT` (both backends run it): never through a
    symlink, never a FIFO it would wait on, never more than MAX_OUTPUT_BYTES."""
    from batchmap.runtime import child

    monkeypatch.setattr(child, "MAX_OUTPUT_BYTES", 1000)
    out = tmp_path / "output"
    out.write_bytes(b"1" * 1000)
    assert child.read_output(str(out)) == b"1" * 1000
    out.write_bytes(b"1" * 1001)
    with pytest.raises(child.RuntimeFailure, match="BATCHMAP_OUTPUT is over"):
        child.read_output(str(out))
    secret = tmp_path / "secret"
    secret.write_text('"the secret"')
    out.unlink()
    out.symlink_to(secret)
    with pytest.raises(child.RuntimeFailure, match="not a regular file"):
        child.read_output(str(out))
    out.unlink()
    os.mkfifo(out)
    with pytest.raises(child.RuntimeFailure, match="not a regular file"):
        child.read_output(str(out))
    assert child.read_output(str(tmp_path / "never-written")) == b""


def test_a_truncated_items_file_fails_its_children_instead_of_running_a_wrong_item(
    tmp_path: Path,
) -> None:
    """items.jsonl cut inside the last item (`34` left as `3`): its child must not run
    with the item 3; the others run theirs."""
    command = [PY, "-c", KEEP, "{{ item }}"]
    supervisor, folder = _supervise(tmp_path, command, [1, 2, 34])
    items = folder / "items.jsonl"
    data = items.read_bytes()
    assert data.rstrip(b"\n").endswith(b"34")
    items.write_bytes(data.rstrip(b"\n")[:-1])
    supervisor.run()
    assert [c["status"] for c in supervisor.children] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert "exited with code 70" in supervisor.children[2]["attempts"][-1]["reason"]
    assert "the staged inputs are damaged" in (folder / "logs" / "2.1.log").read_text()
    assert not (folder / "outputs" / "2.json").exists()
