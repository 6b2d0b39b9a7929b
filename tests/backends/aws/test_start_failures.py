"""An image without the child's executable: AWS Batch's reason becomes one line that says so
and points at the fix (examples/Dockerfile, task.runtime)."""

from __future__ import annotations

import datetime as dt

import pytest

from batchmap.backends.aws.jobs import child_from, start_failure

# As Docker/containerd word it across versions; AWS Batch may cut a reason short.
PYTHON3_MISSING = [
    "CannotStartContainerError: Error response from daemon: failed to create task for container: "
    "failed to create shim task: OCI runtime create failed: runc create failed: unable to start "
    'container process: exec: "python3": executable file not found in $PATH: unknown',
    "CannotStartContainerError: Error response from daemon: OCI runtime create failed: "
    'container_linux.go:348: starting container process caused "exec: \\"python3\\": '
    'executable file not found in $PATH": unknown',
    "CannotStartContainerError: Error response from daemon: failed to create shim task: OCI "
    'runtime create failed: runc create failed: unable to start container process: exec: "python3"'
    ": executable fi",
]


@pytest.mark.parametrize("reason", PYTHON3_MISSING)
def test_no_python3_in_the_image(reason: str) -> None:
    line = start_failure(reason)
    assert line is not None and "\n" not in line
    assert line.startswith("the image has no python3")
    assert "examples/Dockerfile" in line and "task.runtime: batchmap-task" in line


def test_no_batchmap_task_in_the_image() -> None:
    reason = (
        'CannotStartContainerError: ... exec: "batchmap-task": executable file not found in $PATH'
    )
    line = start_failure(reason)
    assert line is not None and line.startswith("the image has no batchmap-task")
    assert "examples/Dockerfile" in line


@pytest.mark.parametrize(
    "reason",
    [
        None,
        "",
        "Essential container in task exited",
        "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        'CannotStartContainerError: ... exec: "/app/run.sh": stat /app/run.sh: no such file',
        "Host EC2 (instance i-0123) terminated.",
    ],
)
def test_other_reasons_are_left_alone(reason: str | None) -> None:
    assert start_failure(reason) is None


def test_a_failed_childs_reason_is_the_one_line() -> None:
    detail = {
        "jobId": "p:3",
        "status": "FAILED",
        "statusReason": "Task failed to start",
        "container": {"reason": PYTHON3_MISSING[0]},
        "attempts": [],
    }
    child = child_from(detail, 3, None, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    assert child.reason is not None and child.reason.startswith("the image has no python3")
