"""The child (batchmap/runtime/child.py): index arithmetic, item loading at the edges,
templating with hostile strings (argv only, never a shell), outputs, exit codes, signals."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batchmap.files.store import LocalStore
from batchmap.launchplans.parse import parse_files
from batchmap.runtime import bootstrap_command, task
from batchmap.runtime import child as runtime
from batchmap.tasks.staging import stage
from tests.conftest import write

HOSTILE = [
    "plain",
    "with space",
    "quote ' and \" both",
    "semi; rm -rf / #",
    "$(touch /tmp/pwned) `id` $HOME",
    "new\nline",
    "ünïcødé ✓",
    "{{ item }}",
    "",
    "-dash-first",
]


def _plan(tmp_path: Path, command: list[str], inputs: str = "    type: list[str]\n"):
    text = (
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n" + inputs + "  tag:\n    type: str\n    default: T\n"
        "map:\n  over: [xs]\n"
        "task:\n  image: busybox\n  command: " + json.dumps(command) + "\n"
    )
    return parse_files([write(tmp_path / "lp.yaml", text)])[0]


def _stage(tmp_path: Path, plan, values) -> str:
    store = LocalStore(tmp_path / "store")
    return stage(store, "p/d/e", plan, values).inputs_uri


@pytest.mark.parametrize(
    ("env", "index"),
    [
        ({}, 0),
        ({"BATCH_JOB_ARRAY_INDEX_OFFSET": "10000"}, 10000),
        (
            {
                "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "AWS_BATCH_JOB_ARRAY_INDEX",
                "AWS_BATCH_JOB_ARRAY_INDEX": "7",
            },
            7,
        ),
        (
            {
                "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "AWS_BATCH_JOB_ARRAY_INDEX",
                "AWS_BATCH_JOB_ARRAY_INDEX": "9999",
                "BATCH_JOB_ARRAY_INDEX_OFFSET": "20000",
            },
            29999,
        ),
        ({"BATCH_JOB_ARRAY_INDEX_VAR_NAME": "FAKE", "FAKE": "0"}, 0),
    ],
)
def test_index_is_offset_plus_the_named_variable(env, index) -> None:
    assert runtime.child_index(env) == index


def test_missing_or_bad_index_variable_is_a_runtime_error() -> None:
    with pytest.raises(runtime.RuntimeFailure, match="IDX is not set"):
        runtime.child_index({"BATCH_JOB_ARRAY_INDEX_VAR_NAME": "IDX"})
    with pytest.raises(runtime.RuntimeFailure, match="not an integer"):
        runtime.child_index({"BATCH_JOB_ARRAY_INDEX_VAR_NAME": "IDX", "IDX": "x"})


def test_items_are_read_at_the_edges(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["echo", "{{ item }}"], "    type: list[int]\n")
    uri = _stage(tmp_path, plan, {"xs": list(range(1000)), "tag": "T"})
    assert runtime.load_item(uri, 0) == (0, {"tag": "T"}, 1000, 0)
    assert runtime.load_item(uri, 999)[0] == 999
    with pytest.raises(runtime.RuntimeFailure, match="outside the map"):
        runtime.load_item(uri, 1000)


def test_render_fills_placeholders_without_a_shell() -> None:
    argv = ["cmd", "{{ item }}", "--x={{ item.a }}", "{{ inputs.n }}", "{{index}}", "{{ item.b }}"]
    rendered = runtime.render(argv, {"a": "x y", "b": [1, 2]}, {"n": 3}, 5)
    assert rendered == ["cmd", '{"a":"x y","b":[1,2]}', "--x=x y", "3", "5", "[1,2]"]
    with pytest.raises(runtime.RuntimeFailure, match="unknown placeholder"):
        runtime.render(["{{ nope }}"], 1, {}, 0)


def test_hostile_items_reach_argv_intact(tmp_path: Path, monkeypatch) -> None:
    script = (
        "import json, os, sys; json.dump(sys.argv[1:], open(os.environ['BATCHMAP_OUTPUT'], 'w'))"
    )
    plan = _plan(tmp_path, [sys.executable, "-c", script, "{{ item }}", "{{ inputs.tag }}"])
    uri = _stage(tmp_path, plan, {"xs": HOSTILE, "tag": "a;b"})
    prefix = (tmp_path / "out").as_uri()
    for i, item in enumerate(HOSTILE):
        env = {
            "BATCHMAP_INPUTS": uri,
            "BATCHMAP_OUTPUT_PREFIX": prefix,
            "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "I",
            "I": str(i),
            "PATH": "/usr/bin:/bin",
        }
        assert runtime.run(plan.task.command, env) == 0
        assert json.loads((tmp_path / "out" / f"{i}.json").read_text()) == [item, "a;b"]
    assert not Path("/tmp/pwned").exists()


def test_exit_codes_and_outputs(tmp_path: Path, capfd) -> None:
    plan = _plan(tmp_path, ["x"])
    uri = _stage(tmp_path, plan, {"xs": ["a"], "tag": "T"})
    prefix = (tmp_path / "out").as_uri()
    env = {"BATCHMAP_INPUTS": uri, "BATCHMAP_OUTPUT_PREFIX": prefix, "AWS_BATCH_JOB_ATTEMPT": "2"}
    fail = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    assert runtime.run(fail, env) == 3
    assert not (tmp_path / "out" / "0.json").exists()  # no output for a failed child
    assert "batchmap-task: index=0 attempt=2 size=1" in capfd.readouterr().out
    text = [sys.executable, "-c", "import os; open(os.environ['BATCHMAP_OUTPUT'],'w').write('hi')"]
    assert runtime.run(text, env) == 0
    assert json.loads((tmp_path / "out" / "0.json").read_text()) == "hi"
    capfd.readouterr()
    assert runtime.run(["/nonexistent/cmd"], env) == runtime.EXIT_NOT_FOUND
    assert capfd.readouterr().err == "batchmap-task: command not found: /nonexistent/cmd\n"
    not_executable = str(tmp_path / "lp.yaml")
    assert runtime.run([not_executable], env) == runtime.EXIT_NOT_EXECUTABLE == 126
    err = capfd.readouterr().err
    assert err == f"batchmap-task: cannot execute {not_executable}: Permission denied\n"


def test_main_reports_runtime_errors_in_one_line(capsys, monkeypatch) -> None:
    monkeypatch.delenv("BATCHMAP_INPUTS", raising=False)
    assert task.main(["--", "echo"]) == runtime.EXIT_RUNTIME_ERROR
    assert capsys.readouterr().err.strip() == "batchmap-task: error: BATCHMAP_INPUTS is not set"
    assert task.main([]) == 2


def test_staging_streams_many_items(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["echo"], "    type: list[int]\n")
    store = LocalStore(tmp_path / "store")
    staged = stage(store, "p/d/e", plan, {"xs": list(range(100_000)), "tag": "T"})
    assert staged.size == 100_000
    assert runtime.load_item(staged.inputs_uri, 99_999)[0] == 99_999
    assert (tmp_path / "store/p/d/e/items.idx").stat().st_size == 8 * 100_001


WAITS_FOR_A_SIGNAL = """
import os, signal, sys
def stop(signum, frame):
    open(os.environ["BATCHMAP_OUTPUT"], "w").write("stopped by %d" % signum)
    sys.exit(0)
if sys.argv[1] == "handles":
    signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
signal.pause()
"""


@pytest.mark.parametrize(
    ("mode", "sig", "code", "output"),
    [
        ("handles", signal.SIGTERM, 0, "stopped by 15"),  # AWS Batch's stop: the command's say
        ("ignores", signal.SIGTERM, 128 + 15, None),  # killed by it, as a shell reports
        ("ignores", signal.SIGINT, 128 + 2, None),
    ],
)
def test_signals_are_forwarded_to_the_command(tmp_path: Path, mode, sig, code, output) -> None:
    plan = _plan(tmp_path, ["x"])
    uri = _stage(tmp_path, plan, {"xs": ["a"], "tag": "T"})
    command = bootstrap_command([sys.executable, "-c", WAITS_FOR_A_SIGNAL, mode])
    env = {"BATCHMAP_INPUTS": uri, "BATCHMAP_OUTPUT_PREFIX": (tmp_path / "out").as_uri()}
    process = subprocess.Popen([sys.executable, *command[1:]], env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().startswith(b"batchmap-task: index=0")
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(sig)
    assert process.wait(timeout=60) == code
    process.stdout.close()
    stored = tmp_path / "out" / "0.json"
    assert (json.loads(stored.read_text()) if stored.exists() else None) == output
