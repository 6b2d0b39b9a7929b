"""The run side of flytekit's map tasks on the local backend, both kinds (the ArrayNode
``flytekit.map_task`` and the legacy ``map_task``), packaged by the real ``pyflyte package``
from tests/testdata/flyte/runs.py: flytekit's command runs as it is inside batchmap's child,
which labels its log, gives it its original index and attempt, and fails a child that left
an ``error.pb`` (issue 17, items 4, 8, 10, 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invoke

pytest.importorskip("flyteidl")
pytestmark = pytest.mark.skipif(
    shutil.which("pyflyte-map-execute") is None or shutil.which("pyflyte") is None,
    reason="running flytekit children needs flytekit's pyflyte and pyflyte-map-execute on PATH",
)
ROOT = Path(__file__).parents[2]
P = ("-p", "flytesnacks", "-d", "development")
KINDS = {"arraynode": "runs.squares", "legacy": "runs.legacy_squares"}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs.py and its ``pyflyte package`` output, made once for the module."""
    folder = tmp_path_factory.mktemp("runs")
    shutil.copy(ROOT / "tests" / "testdata" / "flyte" / "runs.py", folder)
    subprocess.run(
        [
            str(shutil.which("pyflyte")),
            "--pkgs",
            "runs",
            "package",
            "--image",
            "ghcr.io/example/batchmap-flyte:v1",
            "-f",
            "-o",
            "runs.tgz",
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder


@pytest.fixture
def runs(cli: Invoke, package: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Registered, and this folder the working one: pyflyte-map-execute imports runs.py."""
    monkeypatch.chdir(package)
    result = cli("register", "files", str(package / "runs.tgz"), *P, "--version", "v1")
    assert result.exit_code == 0, result.stderr
    return package


def _exec(folder: Path, workflow: str, inputs: str, envs: str = "") -> Path:
    path = folder / f"{workflow}.yaml"
    path.write_text(f"inputs:\n{inputs}envs:\n{envs or '    {}'}\nworkflow: {workflow}\n")
    return path


def _children(cli: Invoke, name: str) -> list[dict[str, Any]]:
    result = cli("get", "execution", *P, name, "--all", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return sorted(json.loads(result.stdout)["children"], key=lambda c: c["index"])


def _outputs(cli: Invoke, name: str) -> Any:
    result = cli("get", "execution", *P, name, "--outputs", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", KINDS)
def test_a_child_that_left_error_pb_and_exited_0_fails(cli: Invoke, runs: Path, kind: str) -> None:
    """Without FLYTE_FAIL_ON_ERROR, flytekit writes error.pb and exits 0; Propeller still
    counts the child as failed (array/subtask_phase.go, task/handler.go), and so does
    batchmap's child. Its reason is error.pb's: the exception's line in tables, the whole
    traceback in JSON and logs."""
    exec_file = _exec(
        runs, KINDS[kind], "    xs: [1, -2, 3]\n", '    FLYTE_FAIL_ON_ERROR: "false"\n'
    )
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", f"ok-{kind}")
    assert result.exit_code == 0, result.stderr  # 2 of 3 meet min_success_ratio 0.5
    children = _children(cli, f"ok-{kind}")
    assert [(c["status"], c["exitCode"]) for c in children] == [
        ("SUCCEEDED", 0),
        ("FAILED", 1),
        ("SUCCEEDED", 0),
    ]
    reason = children[1]["reason"]
    assert "Traceback" in reason and reason.rstrip().endswith(
        "ValueError: no negative numbers here: -2"
    )
    table = cli("get", "execution", *P, f"ok-{kind}", "--status", "FAILED")
    assert "ValueError: no negative numbers here: -2" in table.stdout
    assert "Traceback" not in table.stdout  # the table shows the exception's line only
    logs = cli("logs", *P, f"ok-{kind}", "--index", "1").stdout
    assert "[1] squaring -2" in logs
    store = Path.home() / f".batchmap/store/flytesnacks/development/ok-{kind}/flyte/outputs"
    assert f"[1] batchmap-task: error: flytekit left {store}/1/error.pb" in logs
    assert _outputs(cli, f"ok-{kind}") == [1, None, 9]


@pytest.mark.parametrize("kind", KINDS)
def test_every_childs_lines_are_labelled(cli: Invoke, runs: Path, kind: str) -> None:
    exec_file = _exec(runs, KINDS[kind], "    xs: [4, 5, 6]\n")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "lab")
    assert result.exit_code == 0, result.stderr
    lines = cli("logs", *P, "lab").stdout.splitlines()
    assert {f"[{i}] squaring {x}" for i, x in enumerate((4, 5, 6))} <= set(lines)
    assert not any("batchmap-task: index=" in line for line in lines)  # labels, not lines


@pytest.mark.parametrize("kind", KINDS)
def test_relaunch_of_failed_children_keeps_their_indexes(
    cli: Invoke, runs: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exec_file = _exec(runs, KINDS[kind], "    xs: [4, -1, 5, -3]\n")
    first = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "root")
    assert first.exit_code == 0, first.stderr  # 2 of 4 meet min_success_ratio 0.5
    assert _outputs(cli, "root") == [16, None, 25, None]
    monkeypatch.setenv("ALLOW_NEGATIVE", "1")  # what the user fixed before relaunching
    again = cli("relaunch", *P, "root", "--failed", "--name", "again", "--wait")
    assert again.exit_code == 0, again.stderr
    assert [(c["index"], c["status"]) for c in _children(cli, "again")] == [
        (1, "SUCCEEDED"),
        (3, "SUCCEEDED"),
    ]
    # pyflyte-map-execute read element [1] and [3] of the root's inputs.pb and wrote them
    # under the relaunch's own prefix; --outputs merges the family.
    store = Path.home() / ".batchmap/store/flytesnacks/development"
    written = sorted(p.relative_to(store / "again") for p in (store / "again").rglob("*.pb"))
    assert written == [Path("flyte/outputs/1/outputs.pb"), Path("flyte/outputs/3/outputs.pb")]
    assert _outputs(cli, "root") == [16, 1, 25, 9]
    assert _outputs(cli, "again") == [16, 1, 25, 9]
    logs = cli("logs", *P, "again").stdout.splitlines()
    assert {"[1] squaring -1", "[3] squaring -3"} <= set(logs)


def test_children_get_propellers_environment(cli: Invoke, runs: Path) -> None:
    """What flytekit's entrypoint reads, set as Propeller sets it: the aws_array plugin's
    for the legacy kind, an ArrayNode's (FLYTE_K8S_ARRAY_INDEX) for flytekit.map_task."""
    seen = {}
    for workflow in ("runs.environments", "runs.legacy_environments"):
        exec_file = _exec(runs, workflow, "    xs: [7, 8]\n")
        name = workflow.split(".")[1].replace("_", "-")
        result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", name)
        assert result.exit_code == 0, result.stderr
        seen[workflow] = [json.loads(o) for o in _outputs(cli, name)]
    for workflow, children in seen.items():
        for index, env in enumerate(children):
            assert env["x"] == 7 + index
            assert env["FLYTE_INTERNAL_EXECUTION_WORKFLOW"] == f"flytesnacks:development:{workflow}"
            assert env["FLYTE_INTERNAL_EXECUTION_PROJECT"] == "flytesnacks"
            assert env["FLYTE_INTERNAL_TASK_VERSION"] == "v1"
            assert env["FLYTE_INTERNAL_TASK_NAME"].startswith("runs.")
            assert env["FLYTE_ATTEMPT_NUMBER"] == "0"
            assert env["FLYTE_FAIL_ON_ERROR"] == "true"
    array_node, legacy = seen["runs.environments"], seen["runs.legacy_environments"]
    assert [e["FLYTE_INTERNAL_EXECUTION_ID"] for e in array_node] == ["environments"] * 2
    assert [e["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] for e in array_node] == [
        "FLYTE_K8S_ARRAY_INDEX"
    ] * 2
    assert [e["FLYTE_K8S_ARRAY_INDEX"] for e in array_node] == ["0", "1"]
    assert [e["BATCH_JOB_ARRAY_INDEX_OFFSET"] for e in array_node] == [None, None]
    assert [e["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] for e in legacy] == [
        "AWS_BATCH_JOB_ARRAY_INDEX"
    ] * 2
    assert [e["FLYTE_K8S_ARRAY_INDEX"] for e in legacy] == [None, None]
