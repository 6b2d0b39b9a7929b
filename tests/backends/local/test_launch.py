"""How the local supervisor starts a child (batchmap.backends.local.launch): what the
child finds is what ``subprocess.Popen(..., start_new_session=True)`` gave it, and the
staged inputs are read once for every child."""

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from batchmap.backends.local import launch
from batchmap.runtime import child as runtime
from tests.backends.local.test_local_backend import PY, P, prepare, status
from tests.conftest import Invoke, write

# What a (Python) child reports of how it was started.
REPORT = (
    "import json, os, signal, sys\n"
    "fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
    "blocked = sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))\n"
    "me = os.getpid()\n"
    "json.dump({'session': os.getsid(0) == me, 'group': os.getpgrp() == me, 'fds': fds,\n"
    "  'stdin': os.path.realpath('/proc/self/fd/0'), 'blocked': blocked,\n"
    "  'argv': sys.argv[1:]}, open(os.environ['BATCHMAP_OUTPUT'], 'w'))\n"
)


def _output(name: str, index: int) -> object:
    folder = Path.home() / ".batchmap" / "store" / "proj" / "dev" / name / "outputs"
    return json.loads((folder / f"{index}.json").read_text())


def test_a_child_starts_as_popen_would_start_it(cli: Invoke, tmp_path: Path) -> None:
    script = write(tmp_path / "report.py", REPORT)
    exec_file = prepare(cli, tmp_path, [PY, str(script), "{{ item }}"], default=[7, 8])
    inherited = os.open(os.devnull, os.O_RDONLY)  # as a shell's 3<file would be
    os.set_inheritable(inherited, True)
    try:
        result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "st")
    finally:
        os.close(inherited)
    assert result.exit_code == 0, result.stderr
    for index, item in enumerate([7, 8]):
        seen = _output("st", index)
        assert isinstance(seen, dict)
        assert seen["session"] and seen["group"]  # its own session: its group is stoppable
        assert seen["stdin"] == "/dev/null"
        assert seen["blocked"] == []
        # stdin, the log twice, and the listing's own descriptor: nothing of the supervisor
        assert len(seen["fds"]) == 4 and seen["fds"][:3] == [0, 1, 2], seen["fds"]
        assert seen["argv"] == [str(item)]


def test_a_child_does_not_inherit_the_signals_python_ignores(cli: Invoke, tmp_path: Path) -> None:
    """Python ignores SIGPIPE (and SIGXFSZ); an ignored signal survives exec, so a child
    started without resetting them would not die of a closed pipe (``yes | head``)."""
    exec_file = prepare(
        cli, tmp_path, ["sh", "-c", "grep SigIgn /proc/self/status # {{ item }}"], default=[1]
    )
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "sig")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in cli("logs", *P, "sig").stdout.splitlines() if "SigIgn:" in x)
    ignored = int(line.split("SigIgn:")[1].strip(), 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (sig - 1)), (sig, line)


def test_a_command_is_found_on_the_childs_own_path(cli: Invoke, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    hello = write(tools / "hello", f"#!{sys.executable}\nimport sys; print('hello', sys.argv[1])\n")
    hello.chmod(0o755)
    exec_file = prepare(
        cli,
        tmp_path,
        ["hello", "{{ item }}"],
        default=[5],
        extra_task=f"  env:\n    PATH: {tools}:/usr/bin:/bin\n",
    )
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "path")
    assert result.exit_code == 0, result.stderr
    assert "hello 5" in cli("logs", *P, "path").stdout


def test_a_file_that_is_not_executable_fails_with_126(cli: Invoke, tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.sh", "echo never\n")
    exec_file = prepare(cli, tmp_path, [str(plain), "{{ item }}"], default=[1])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "nx")
    assert result.exit_code == 7
    assert status(cli, "nx")["children"][0]["exitCode"] == 126
    assert f"cannot execute {plain}: Permission denied" in cli("logs", *P, "nx").stdout


def test_a_name_on_no_path_fails_with_127(tmp_path: Path) -> None:
    spawner = launch.Spawner()
    try:
        prepared = runtime.Prepared(
            0, "1", 1, ["no-such-tool-here"], {"PATH": str(tmp_path)}, "", runtime.Store({}), ""
        )
        assert spawner.spawn(prepared, 1) == runtime.EXIT_NOT_FOUND
        assert prepared.start_error == "command not found: no-such-tool-here"
    finally:
        spawner.close()


@pytest.mark.parametrize("native", [True, False])
def test_spawned_children_are_waited_for_and_signalled(tmp_path: Path, native: bool) -> None:
    """posix_spawn, and Popen where it is missing: the same exit codes, signals and reaping."""
    spawner = launch.Spawner()
    spawner.native = native
    log = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        env = dict(os.environ)
        done = spawner.spawn(
            runtime.Prepared(
                0, "1", 1, [PY, "-c", "raise SystemExit(3)"], env, "", runtime.Store({}), ""
            ),
            log,
        )
        assert not isinstance(done, int)
        assert done.wait() == 3 and done.poll() == 3
        sleeper = spawner.spawn(
            runtime.Prepared(
                0, "1", 1, [PY, "-c", "import time; time.sleep(60)"], env, "", runtime.Store({}), ""
            ),
            log,
        )
        assert not isinstance(sleeper, int)
        assert sleeper.poll() is None
        sleeper.send_signal(signal.SIGTERM)
        assert sleeper.wait() == -signal.SIGTERM
        sleeper.send_signal(signal.SIGTERM)  # reaped: nothing is signalled
    finally:
        os.close(log)
        spawner.close()


def test_the_staged_inputs_are_read_once_for_every_child(tmp_path: Path) -> None:
    items = write(tmp_path / "items.jsonl", '"a"\n"bb"\n')
    uri = f"file://{items}"
    cache: dict[str, object] = {}
    first, second = launch.Inputs({}, cache), launch.Inputs({}, cache)  # two slots
    assert first.read(uri, 4, 8) == b'"bb"'
    items.unlink()  # from memory from now on, for every slot
    assert second.read(uri) == b'"a"\n"bb"\n'
    assert second.read(uri, 0, 3) == b'"a"'


def test_a_staged_file_above_the_limit_is_read_by_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "CACHE_LIMIT", 4)
    items = write(tmp_path / "items.jsonl", '"a"\n"bb"\n')
    store = launch.Inputs({}, {})
    assert store.read(f"file://{items}", 4, 8) == b'"bb"'
    items.unlink()
    with pytest.raises(runtime.RuntimeFailure, match="cannot read"):
        store.read(f"file://{items}", 4, 8)
