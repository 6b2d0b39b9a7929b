"""moto fixtures: an AWS account with the guide's setup (roles, a compute environment,
job queues, a bucket), in-process, with Batch jobs finishing inside SubmitJob."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests import moto_fidelity
from tests.conftest import Invoke, moto_api, write
from tests.faultproxy import FaultProxy

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/batchmap-task"
ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
BATCH_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "batch.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


moto_fidelity.apply()


def make_account(queues: tuple[str, ...] = ("default", "critical")) -> dict[str, str]:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="batchmap-task", AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    service = iam.create_role(
        RoleName="AWSBatchServiceRole", AssumeRolePolicyDocument=json.dumps(BATCH_TRUST)
    )["Role"]["Arn"]
    batch = boto3.client("batch", region_name=REGION)
    batch.create_compute_environment(
        computeEnvironmentName="spot-ce", type="UNMANAGED", state="ENABLED", serviceRole=service
    )
    for i, name in enumerate(queues):
        batch.create_job_queue(
            jobQueueName=name,
            state="ENABLED",
            priority=i + 1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "spot-ce"}],
        )
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="bm-bucket")
    return {"service_role": service}


CONFIG = """\
backend: aws
storage: s3://bm-bucket/store
registry: s3://bm-bucket/registry
aws:
  region: us-east-1
queues:
  executionQueues:
    - dynamic: default
      attributes: [default]
    - dynamic: critical
      attributes: [critical]
  workflowConfigs:
    - project: flytesnacks
      workflowName: squares
      tags: [critical]
    - tags: [default]
"""


@pytest.fixture
def aws(isolated: Path) -> Iterator[None]:
    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        write(Path("batchmap.yaml"), CONFIG)
        yield


@pytest.fixture
def served(server: str, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh account on the threaded server, with the guide's setup and config."""
    moto_api(server, "/moto-api/reset")
    moto_api(server, "/moto-api/config", {"batch": {"use_docker": False}})
    monkeypatch.setenv("AWS_ENDPOINT_URL", server)
    make_account()
    write(Path("batchmap.yaml"), CONFIG)
    return server


@pytest.fixture
def proxy(served: str) -> Iterator[FaultProxy]:
    """A fault proxy in front of ``served``: point the client under test at ``proxy.url``;
    the test's own clients keep talking to moto directly."""
    with FaultProxy(served) as started:
        yield started


def no_real_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff and adaptive mode's token bucket, on a fake clock."""
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _s: None)
    monkeypatch.setattr(
        "botocore.retries.adaptive.ClientRateLimiter.on_sending_request",
        lambda self, request, **kwargs: None,
    )


def register_with_items(
    cli: Invoke,
    items: int | list,
    *,
    name: str = "squares",
    role: str | None = ROLE_ARN,
    extra: str = "",
) -> Path:
    """Register a squares-like launch plan whose default list has ``items`` numbers,
    and write its exec file (with the role filled in)."""
    values = list(range(items)) if isinstance(items, int) else items
    text = (
        f"project: flytesnacks\ndomain: development\nname: {name}\nversion: v1\n"
        f"inputs:\n  numbers:\n    type: list[int]\n    default: {json.dumps(values)}\n"
        "  scale:\n    type: int\n    default: 2\n"
        "map:\n  over: [numbers]\n  minSuccessRatio: 0.9\n"
        "task:\n  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/sq:1\n"
        "  command: [square, '{{ item }}', --scale, '{{ inputs.scale }}']\n"
        "  vcpu: 2\n  memory: 4Gi\n  gpu: 1\n  retries: 3\n  timeout: 1h\n"
        "  env:\n    MODE: fast\n" + extra
    )
    path = write(Path(f"{name}.yaml"), text)
    assert cli("register", "files", str(path)).exit_code == 0
    exec_file = Path(f"{name}.exec.yaml")
    result = cli(
        "get",
        "launchplan",
        "-p",
        "flytesnacks",
        "-d",
        "development",
        name,
        "--execFile",
        str(exec_file),
        "--force",
    )
    assert result.exit_code == 0, result.stderr
    if role:
        exec_file.write_text(exec_file.read_text().replace('iamRoleARN: ""', f"iamRoleARN: {role}"))
    exec_file.write_text(exec_file.read_text().replace("envs: {}", "envs:\n    TEAM: vision"))
    return exec_file


def set_job(
    job_id: str, status: str, exit_code: int | None = None, reason: str | None = None
) -> None:
    """Drive a moto job to any status (aws-moto.md §2.4)."""
    import datetime as dt

    from moto.batch.models import batch_backends

    job = batch_backends[ACCOUNT][REGION]._jobs[job_id]
    job.status = status
    now = dt.datetime.now()
    if status in ("STARTING", "RUNNING", "SUCCEEDED", "FAILED") and job.job_started_at.year == 1970:
        job.job_started_at = now
    if status in ("SUCCEEDED", "FAILED"):
        job.job_stopped, job.job_stopped_at, job.exit_code = True, now, exit_code
        job.job_stopped_reason = reason
    else:
        job.job_stopped, job.exit_code, job.job_stopped_reason = False, None, None


def write_logs(
    stream: str, lines: list[str], start_ms: int | None = None, group: str = "/aws/batch/job"
) -> None:
    import time

    logs = boto3.client("logs", region_name=REGION)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = start_ms if start_ms is not None else int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(lines)],
    )
