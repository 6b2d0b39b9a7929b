"""The README's first AWS run as a user types it: the installed `batchmap` executable in a
subprocess against moto's threaded server on 127.0.0.1, from an empty account with its
default VPC — `config init --backend aws`, `setup --dryRun`, `setup`, `doctor` — with
nothing hand-written in between."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.conftest import installed, moto_api

pytestmark = pytest.mark.server
ROLE = "arn:aws:iam::123456789012:role/batchmap-task"


def test_the_readme_first_aws_run_needs_nothing_hand_written(
    server: str, tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS's managed policies exist in every account; moto loads them only when asked, and
    # its /moto-api/config takes no IAM setting: the (in-process) server reads this.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    moto_api(server, "/moto-api/reset")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHMAP_")}
    env.update(
        HOME=str(isolated),
        AWS_ENDPOINT_URL=server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        COLUMNS="200",
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [installed(), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    init = run(
        "config", "init", "--backend", "aws", "--storage", "s3://my-bucket/batchmap",
        "--queue", "my-queue",
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert (isolated / ".batchmap" / "config.yaml").exists()

    dry = run("setup", "--dryRun")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: 9 to create, 0 differ, 0 already there" in dry.stderr
    assert "network from the default VPC vpc-" in dry.stderr

    done = run("setup")
    assert done.returncode == 0, done.stderr
    assert done.stderr.rstrip().splitlines()[-2:] == [
        f"iamRoleARN for exec files: {ROLE}",
        "next: batchmap doctor",
    ]
    queues = boto3.client("batch", region_name="us-east-1", endpoint_url=server)
    assert [q["jobQueueName"] for q in queues.describe_job_queues()["jobQueues"]] == ["my-queue"]

    doctor = run("doctor", "-o", "json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert checks["role: role exists"]["message"] == ROLE
    assert checks["queue my-queue"]["status"] == "ok"
    assert checks["storage"]["status"] == "ok"
