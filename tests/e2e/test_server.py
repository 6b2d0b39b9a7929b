"""End to end: the real `batchmap` executable in a subprocess against moto's threaded
server on 127.0.0.1, from an empty account to submitted array jobs of 1..25,000 items."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.aws_account import BATCH_TRUST, ECS_TRUST, ROLE_ARN
from tests.conftest import installed, moto_api

pytestmark = pytest.mark.server
ROOT = Path(__file__).parents[2]


@pytest.fixture
def account(server: str, tmp_path: Path, isolated: Path) -> dict:
    moto_api(server, "/moto-api/reset")
    kw = {"region_name": "us-east-1", "endpoint_url": server}
    iam = boto3.client("iam", **kw)
    iam.create_role(RoleName="batchmap-task", AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    service = iam.create_role(RoleName="svc", AssumeRolePolicyDocument=json.dumps(BATCH_TRUST))[
        "Role"
    ]["Arn"]
    batch = boto3.client("batch", **kw)
    batch.create_compute_environment(
        computeEnvironmentName="ce1", type="UNMANAGED", state="ENABLED", serviceRole=service
    )
    batch.create_job_queue(
        jobQueueName="tutorial",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce1"}],
    )
    boto3.client("s3", **kw).create_bucket(Bucket="bm-e2e")
    (tmp_path / "batchmap.yaml").write_text(
        "backend: aws\nstorage: s3://bm-e2e/store\nregistry: s3://bm-e2e/registry\n"
        "flyteadmin:\n  roleNameKey: eks.amazonaws.com/role-arn\n"
        "queues:\n  executionQueues:\n    - dynamic: tutorial\n      attributes: [default]\n"
        "  workflowConfigs:\n    - tags: [default]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHMAP_")}
    env.update(
        HOME=str(isolated),
        AWS_ENDPOINT_URL=server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return {"env": env, "cwd": tmp_path, "batch": batch}


def run(account: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [installed(), *args],
        cwd=account["cwd"],
        env=account["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _launch_plan(account: dict, size: int) -> Path:
    path = account["cwd"] / f"lp{size}.yaml"
    path.write_text(
        f"project: p\ndomain: d\nname: lp{size}\nversion: v1\n"
        f"inputs:\n  xs:\n    type: list[int]\n    default: {json.dumps(list(range(size)))}\n"
        "map:\n  over: [xs]\n"
        "task:\n  image: busybox\n  command: [echo, '{{ item }}']\n  retries: 1\n"
        "  timeout: 5m\n  vcpu: 1\n  memory: 1Gi\n"
    )
    return path


@pytest.mark.parametrize("size", [1, 2, 10_000, 25_000])
def test_create_execution_over_http(account: dict, size: int) -> None:
    path = _launch_plan(account, size)
    assert run(account, "register", "files", str(path)).returncode == 0
    result = run(
        account,
        "get",
        "launchplan",
        "-p",
        "p",
        "-d",
        "d",
        f"lp{size}",
        "--execFile",
        "exec.yaml",
        "--force",
    )
    assert result.returncode == 0, result.stderr
    result = run(
        account,
        "create",
        "execution",
        "-p",
        "p",
        "-d",
        "d",
        "--execFile",
        "exec.yaml",
        "--iamRoleARN",
        ROLE_ARN,
        f"e{size}",
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    expected = [(o, min(10_000, size - o)) for o in range(0, size, 10_000)]
    assert [(j["offset"], j["size"]) for j in manifest["jobs"]] == expected
    parents = account["batch"].describe_jobs(jobs=[j["jobId"] for j in manifest["jobs"]])["jobs"]
    for parent in parents:
        env = {e["name"]: e["value"] for e in parent["container"]["environment"]}
        assert parent["jobQueue"].endswith("tutorial")
        assert env["BATCHMAP_ARRAY_SIZE"] == str(size)
        props = parent.get("arrayProperties") or {}
        assert props.get("size", 1) in (s for _, s in expected) or size == 1
    status = run(account, "get", "execution", "-p", "p", "-d", "d", f"e{size}", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"]["phase"] == "SUCCEEDED"  # moto runs no containers


def test_dry_run_over_http_leaves_the_account_unchanged(account: dict) -> None:
    path = _launch_plan(account, 3)
    assert run(account, "register", "files", str(path)).returncode == 0
    run(account, "get", "launchplan", "-p", "p", "-d", "d", "lp3", "--execFile", "exec.yaml")
    before = account["batch"].describe_job_definitions()["jobDefinitions"]
    result = run(
        account,
        "create",
        "execution",
        "-p",
        "p",
        "-d",
        "d",
        "--execFile",
        "exec.yaml",
        "--iamRoleARN",
        ROLE_ARN,
        "--dryRun",
    )
    assert result.returncode == 0, result.stderr
    assert "submitJobs:" in result.stdout and "nothing was staged" in result.stderr
    assert account["batch"].describe_job_definitions()["jobDefinitions"] == before
    assert (
        account["batch"].list_jobs(jobQueue="tutorial", jobStatus="SUCCEEDED")["jobSummaryList"]
        == []
    )


def test_doctor_over_http(account: dict) -> None:
    result = run(account, "doctor", "--role", ROLE_ARN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "queue tutorial" in result.stdout


def test_a_flytekit_map_task_is_submitted_with_propellers_command(account: dict) -> None:
    """pyflyte package output, registered and submitted over HTTP: the array job runs
    pyflyte-map-execute with Propeller's inputs and environment."""
    pytest.importorskip("flyteidl")
    package = ROOT / "tests" / "testdata" / "flyte" / "pkg.tgz"
    result = run(
        account, "register", "files", str(package), "-p", "p", "-d", "d", "--version", "v1"
    )
    assert result.returncode == 0, result.stderr
    result = run(
        account,
        "get",
        "launchplan",
        "-p",
        "p",
        "-d",
        "d",
        "wf.my_map_workflow",
        "--execFile",
        "fk.yaml",
    )
    assert result.returncode == 0, result.stderr
    result = run(
        account,
        "create",
        "execution",
        "-p",
        "p",
        "-d",
        "d",
        "--execFile",
        "fk.yaml",
        "--iamRoleARN",
        ROLE_ARN,
        "fk",
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    batch = account["batch"]
    (definition,) = batch.describe_job_definitions(jobDefinitions=[manifest["jobDefinitionArn"]])[
        "jobDefinitions"
    ]
    command = definition["containerProperties"]["command"]
    # Propeller's command, run as it is by batchmap's child (python3 -I -S -c CHILD --).
    assert command[:3] == ["python3", "-I", "-S"]
    assert command[5:9] == [
        "--",
        "pyflyte-map-execute",
        "--inputs",
        "s3://bm-e2e/store/p/d/fk/flyte/inputs.pb",
    ]
    assert "flytekit.core.legacy_map_task.MapTaskResolver" in command
    env = {e["name"]: e["value"] for e in definition["containerProperties"]["environment"]}
    assert env["FLYTE_FAIL_ON_ERROR"] == "true" and env["FLYTE_INTERNAL_EXECUTION_ID"] == "fk"
    (parent,) = batch.describe_jobs(jobs=[manifest["jobs"][0]["jobId"]])["jobs"]
    overrides = {e["name"]: e["value"] for e in parent["container"]["environment"]}
    assert overrides["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] == "AWS_BATCH_JOB_ARRAY_INDEX"
    s3 = boto3.client(
        "s3", region_name="us-east-1", endpoint_url=account["env"]["AWS_ENDPOINT_URL"]
    )
    staged = s3.get_object(Bucket="bm-e2e", Key="store/p/d/fk/flyte/inputs.pb")["Body"].read()
    from flyteidl.core import literals_pb2

    literals = literals_pb2.LiteralMap()
    literals.ParseFromString(staged)
    assert [v.scalar.primitive.integer for v in literals.literals["x"].collection.literals] == [
        1,
        2,
        3,
    ]
