"""A command run as it is in batchmap's child (``BATCHMAP_AS_IS=1``: flytekit's
pyflyte-map-execute): the label line, the original index through flytekit's index rule
(a relaunch's index map), ``{{batchmap.index}}``, the attempt variable, and Propeller's
tests of what the command left (error.pb, outputs.pb) once it exits 0. A stand-in for
flytekit writes those files: tests/flyte/test_flyte_run.py and tests/e2e/test_flyte_server.py
run the real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchmap.runtime import bootstrap_command
from batchmap.runtime import child as runtime

# Reports what it got, then leaves what FLYTEKIT_LEAVES names under its --output-prefix
# (as flytekit does) and exits with FLYTEKIT_EXIT.
FLYTEKIT = """
import json, os, sys
prefix = sys.argv[sys.argv.index("--output-prefix") + 1]
print(json.dumps({"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items()
      if k.startswith(("BATCH_JOB", "FLYTE", "IDX", "AWS_BATCH_JOB_ATTEMPT"))}}))
os.makedirs(prefix, exist_ok=True)
for name in filter(None, os.environ.get("FLYTEKIT_LEAVES", "").split(",")):
    open(os.path.join(prefix, name), "wb").write(b"doc")
sys.exit(int(os.environ.get("FLYTEKIT_EXIT", "0")))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "BATCHMAP_AS_IS": "1",
        "BATCHMAP_EXECUTION": "e",
        "BATCHMAP_ARRAY_SIZE": "4",
        "BATCHMAP_ATTEMPT_VAR": "FLYTE_ATTEMPT_NUMBER",
        "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "IDX",
        "IDX": "1",
        "BATCHMAP_FLYTE_OUTPUTS": f"{tmp_path}/out/{runtime.INDEX_MARK}",
        **extra,
    }


def _command(tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        FLYTEKIT,
        "--output-prefix",
        f"{tmp_path}/out/{runtime.INDEX_MARK}",
    ]


def _run(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """The child as the job definition runs it (python3 -I -S with the child inline)."""
    command = bootstrap_command(_command(tmp_path))
    done = subprocess.run(
        [sys.executable, *command[1:]],
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    return done, (json.loads(lines[1]) if len(lines) > 1 else {})


def test_the_command_runs_as_is_with_its_index_and_attempt(tmp_path: Path) -> None:
    done, got = _run(tmp_path, AWS_BATCH_JOB_ATTEMPT="3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "batchmap-task: index=1 attempt=3 size=4 execution=e"
    assert got["argv"][-1] == f"{tmp_path}/out/1"  # the mark, filled; nothing else touched
    assert got["env"]["FLYTE_ATTEMPT_NUMBER"] == "2"  # from 0, as Flyte counts
    assert got["env"]["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] == "IDX"
    assert "BATCH_JOB_ARRAY_INDEX_OFFSET" not in got["env"]


def test_a_relaunch_gives_the_command_its_original_index(tmp_path: Path) -> None:
    index_map = tmp_path / "indexmap.bin"
    index_map.write_bytes(b"".join(runtime.INDEX_ENTRY.pack(i) for i in (10_004, 10_017)))
    # flytekit's rule (offset + the named variable) then gives 10_017 for position 1 ...
    done, got = _run(tmp_path, BATCHMAP_INDEX_MAP=index_map.as_uri())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("batchmap-task: index=10017 attempt=1 ")
    env = got["env"]
    assert (
        int(env["BATCH_JOB_ARRAY_INDEX_OFFSET"]) + int(env[env["BATCH_JOB_ARRAY_INDEX_VAR_NAME"]])
        == 10_017
    )
    assert got["argv"][-1] == f"{tmp_path}/out/10017"
    # ... and, where the child names its own variable (Propeller's for ArrayNode children),
    # that variable holds it.
    done, got = _run(
        tmp_path, BATCHMAP_INDEX_MAP=str(index_map), BATCHMAP_INDEX_VAR="FLYTE_K8S_ARRAY_INDEX"
    )
    assert done.returncode == 0, done.stderr
    assert got["env"]["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] == "FLYTE_K8S_ARRAY_INDEX"
    assert got["env"]["FLYTE_K8S_ARRAY_INDEX"] == "10017"
    assert "BATCH_JOB_ARRAY_INDEX_OFFSET" not in got["env"]


@pytest.mark.parametrize(
    ("rule", "leaves", "code", "failed"),
    [
        # The aws_array plugin (array/subtask_phase.go): error.pb without outputs.pb.
        ("array", "error.pb", 0, "left"),
        ("array", "outputs.pb,error.pb", 0, None),
        ("array", "", 0, None),
        ("array", "error.pb", 1, None),  # a failure stays the command's: exit 1, no message
        # An ArrayNode's task node (task/handler.go ValidateOutput): any new error.pb, and,
        # for a task that declares outputs, a missing outputs.pb (OutputsNotFound).
        ("task", "outputs.pb,error.pb", 0, "left"),
        ("task", "", 0, None),
        ("task-outputs", "", 0, "no outputs"),
        ("task-outputs", "outputs.pb", 0, None),
    ],
)
def test_propellers_rules_for_a_command_that_exited_0(
    tmp_path: Path, rule: str, leaves: str, code: int, failed: str | None
) -> None:
    done, _ = _run(
        tmp_path, BATCHMAP_FLYTE_OUTCOME=rule, FLYTEKIT_LEAVES=leaves, FLYTEKIT_EXIT=str(code)
    )
    error = f"batchmap-task: error: flytekit left {tmp_path}/out/1/error.pb: the child failed"
    missing = f"batchmap-task: error: flytekit wrote no {tmp_path}/out/1/outputs.pb: the child"
    if failed is None:
        assert (done.returncode, done.stderr) == (code, "")
    else:
        assert done.returncode == 1
        assert done.stderr.startswith(error if failed == "left" else missing), done.stderr


def test_an_error_pb_of_an_earlier_attempt_does_not_fail_a_later_one(tmp_path: Path) -> None:
    """ArrayNode children share one prefix across attempts here (Propeller gives each
    attempt its own): an error.pb the attempt did not write is not its failure."""
    (tmp_path / "out" / "1").mkdir(parents=True)
    (tmp_path / "out" / "1" / "error.pb").write_bytes(b"attempt 1")
    task = {"BATCHMAP_FLYTE_OUTCOME": "task-outputs", "AWS_BATCH_JOB_ATTEMPT": "2"}
    done, _ = _run(tmp_path, FLYTEKIT_LEAVES="outputs.pb", **task)
    assert (done.returncode, done.stderr) == (0, "")
    done, _ = _run(tmp_path, FLYTEKIT_LEAVES="error.pb", **task)  # written again: this one's
    assert done.returncode == 1 and "flytekit left" in done.stderr


def test_an_unreadable_check_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    done, _ = _run(
        tmp_path,
        BATCHMAP_FLYTE_OUTCOME="array",
        BATCHMAP_FLYTE_OUTPUTS=f"s3://no-such-bucket/out/{runtime.INDEX_MARK}",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing listens there
        AWS_MAX_ATTEMPTS="1",
        AWS_ACCESS_KEY_ID="k",
        AWS_SECRET_ACCESS_KEY="s",
    )
    assert done.returncode == 0
    assert done.stderr.startswith(
        "batchmap-task: warning: cannot tell whether flytekit left an error.pb: cannot read "
        "s3://no-such-bucket/out/1/error.pb: ConnectionRefusedError"
    ), done.stderr
