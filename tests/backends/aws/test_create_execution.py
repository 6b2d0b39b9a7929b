"""create execution on AWS Batch (moto, in-process): the requests, sizes, limits, the
refusals, dry runs that change nothing, and submissions that never happen twice."""

import json
from pathlib import Path

import boto3
import pytest

from batchmap.runtime import bootstrap_command
from tests.aws_account import ROLE_ARN, register_with_items
from tests.conftest import Invoke

P = ("-p", "flytesnacks", "-d", "development")


def _env(job: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job["container"]["environment"]}


def _state() -> dict:
    batch = boto3.client("batch", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    return {
        "definitions": [
            d["jobDefinitionArn"] for d in batch.describe_job_definitions()["jobDefinitions"]
        ],
        "jobs": sorted(
            j["jobId"]
            for q in ("default", "critical")
            for s in ("SUCCEEDED", "FAILED", "SUBMITTED", "RUNNABLE")
            for j in batch.list_jobs(jobQueue=q, jobStatus=s)["jobSummaryList"]
        ),
        "objects": sorted(
            o["Key"]
            for o in s3.list_objects_v2(Bucket="bm-bucket").get("Contents", [])
            if not o["Key"].startswith("registry/")
        ),
    }


@pytest.mark.usefixtures("aws")
def test_one_array_job_carries_everything(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 10)
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "ex1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["state"] == "SUBMITTED"
    assert manifest["queue"] == {
        "name": "critical",
        "reason": ("workflowConfigs[0] project=flytesnacks workflowName=squares: tag 'critical'"),
    }
    (job,) = manifest["jobs"]
    assert (job["offset"], job["size"], job["jobName"]) == (0, 10, "ex1")
    batch = boto3.client("batch", region_name="us-east-1")
    parent = batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
    assert parent["jobQueue"].endswith("critical")
    assert parent["arrayProperties"]["size"] == 10
    env = _env(parent)
    assert env["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] == "AWS_BATCH_JOB_ARRAY_INDEX"
    assert env["BATCH_JOB_ARRAY_INDEX_OFFSET"] == "0"
    assert env["BATCHMAP_INPUTS"] == "s3://bm-bucket/store/flytesnacks/development/ex1/inputs.json"
    assert (
        env["BATCHMAP_OUTPUT_PREFIX"] == "s3://bm-bucket/store/flytesnacks/development/ex1/outputs"
    )
    assert (env["BATCHMAP_EXECUTION"], env["BATCHMAP_ARRAY_SIZE"], env["TEAM"]) == (
        "ex1",
        "10",
        "vision",
    )
    assert parent["tags"]["batchmap:execution"] == "ex1"
    (definition,) = batch.describe_job_definitions(
        jobDefinitionName=("batchmap-flytesnacks-development-squares")
    )["jobDefinitions"]
    props = definition["containerProperties"]
    assert props["command"] == bootstrap_command(
        ["square", "{{ item }}", "--scale", "{{ inputs.scale }}"]
    )
    assert props["jobRoleArn"] == ROLE_ARN
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {
        "VCPU": "2",
        "MEMORY": "4096",
        "GPU": "1",
    }
    assert props["logConfiguration"]["options"]["awslogs-stream-prefix"] == "batchmap/ex1"
    assert definition["retryStrategy"]["attempts"] == 4
    assert definition["retryStrategy"]["evaluateOnExit"][0]["onStatusReason"] == "Host EC2*"
    assert definition["timeout"] == {"attemptDurationSeconds": 3600}
    assert {e["name"]: e["value"] for e in props["environment"]} == {
        "MODE": "fast",
        "AWS_DEFAULT_REGION": "us-east-1",  # the child's S3 reads go to its own region
    }
    s3 = boto3.client("s3", region_name="us-east-1")
    staged = json.loads(
        s3.get_object(Bucket="bm-bucket", Key=("store/flytesnacks/development/ex1/inputs.json"))[
            "Body"
        ].read()
    )
    assert staged["size"] == 10 and staged["broadcast"] == {"scale": 2}


@pytest.mark.usefixtures("aws")
def test_one_item_is_a_plain_job(cli: Invoke) -> None:
    exec_file = register_with_items(cli, [7])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "one", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (job,) = json.loads(result.stdout)["jobs"]
    parent = boto3.client("batch", region_name="us-east-1").describe_jobs(jobs=[job["jobId"]])[
        "jobs"
    ][0]
    assert "arrayProperties" not in parent or not parent["arrayProperties"]
    env = _env(parent)
    assert env["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] == "BATCHMAP_JOB_INDEX"
    assert env["BATCHMAP_JOB_INDEX"] == "0"


@pytest.mark.usefixtures("aws")
def test_25000_items_are_three_array_jobs_with_offsets(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 25_000)
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "big", "-o", "json")
    assert result.exit_code == 0, result.stderr
    jobs = json.loads(result.stdout)["jobs"]
    assert [(j["jobName"], j["offset"], j["size"]) for j in jobs] == [
        ("big-0", 0, 10_000),
        ("big-1", 10_000, 10_000),
        ("big-2", 20_000, 5_000),
    ]
    batch = boto3.client("batch", region_name="us-east-1")
    parents = batch.describe_jobs(jobs=[j["jobId"] for j in jobs])["jobs"]
    offsets = sorted(int(_env(p)["BATCH_JOB_ARRAY_INDEX_OFFSET"]) for p in parents)
    assert offsets == [0, 10_000, 20_000]
    assert {_env(p)["BATCHMAP_ARRAY_SIZE"] for p in parents} == {"25000"}


@pytest.mark.usefixtures("aws")
def test_dry_run_changes_nothing_and_shows_every_request(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 12_000)
    before = _state()
    result = cli(
        "create", "execution", *P, "--execFile", str(exec_file), "dry", "--dryRun", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert _state() == before
    plan = json.loads(result.stdout)
    assert plan["queue"]["name"] == "critical"
    assert [r["arrayProperties"]["size"] for r in plan["submitJobs"]] == [10_000, 2_000]
    assert plan["jobDefinition"]["containerProperties"]["jobRoleArn"] == ROLE_ARN
    assert [c["check"] for c in plan["identityChecks"]] == [
        "role exists",
        "trust policy",
        "iam:PassRole",
    ]
    assert plan["identityChecks"][2]["status"] == "unverified"  # moto has no simulator


@pytest.mark.usefixtures("aws")
def test_an_explicit_queue_overrides_matching(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 3)
    result = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "q",
        "--queue",
        "default",
        "-o",
        "json",
    )
    assert json.loads(result.stdout)["queue"]["name"] == "default"


@pytest.mark.usefixtures("aws")
def test_refusals(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 3, role=None)
    no_role = cli("create", "execution", *P, "--execFile", str(exec_file), "r1")
    assert no_role.exit_code == 3 and "iamRoleARN is required" in no_role.stderr
    missing = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "r2",
        "--iamRoleARN",
        "arn:aws:iam::123456789012:role/nope",
    )
    assert missing.exit_code == 5 and "does not exist" in missing.stderr
    bad_syntax = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "r3",
        "--iamRoleARN",
        "arn:aws:iam::1:role/x",
    )
    assert bad_syntax.exit_code == 3 and "--iamRoleARN: not an IAM role ARN" in bad_syntax.stderr
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(
        RoleName="ec2-only",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                    }
                ],
            }
        ),
    )
    trust = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "r4",
        "--iamRoleARN",
        "arn:aws:iam::123456789012:role/ec2-only",
    )
    assert trust.exit_code == 5
    assert "does not let ecs-tasks.amazonaws.com assume the role" in trust.stderr
    assert '"Service": "ecs-tasks.amazonaws.com"' in trust.stderr  # the fix
    boto3.client("batch", region_name="us-east-1").update_job_queue(
        jobQueue="critical", state="DISABLED"
    )
    disabled = cli(
        "create", "execution", *P, "--execFile", str(exec_file), "r5", "--iamRoleARN", ROLE_ARN
    )
    assert disabled.exit_code == 5 and "job queue 'critical' is DISABLED" in disabled.stderr
    unknown = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "r6",
        "--iamRoleARN",
        ROLE_ARN,
        "--queue",
        "ghost",
    )
    assert unknown.exit_code == 5 and "'ghost' does not exist" in unknown.stderr
    assert _state()["jobs"] == []


@pytest.mark.usefixtures("aws")
def test_no_matching_queue_exits_4(cli: Invoke) -> None:
    Path("batchmap.yaml").write_text(
        Path("batchmap.yaml").read_text().replace("    - tags: [default]\n", "")
    )
    exec_file = register_with_items(cli, 3, name="other")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "nq")
    assert result.exit_code == 4
    assert "no job queue matches project=flytesnacks domain=development workflow=other" in (
        result.stderr
    )


@pytest.mark.usefixtures("aws")
def test_never_two_submissions_for_one_execution(cli: Invoke, monkeypatch) -> None:
    from batchmap.executions import manifest as executions

    exec_file = register_with_items(cli, 5)
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "once").exit_code == 0
    again = cli("create", "execution", *P, "--execFile", str(exec_file), "once")
    assert again.exit_code == 3 and "execution 'once' exists" in again.stderr
    # A crash after SubmitJob, before the manifest says SUBMITTED:
    real_save = executions.save

    def crash(store, manifest):  # type: ignore[no-untyped-def]
        if manifest.state == "SUBMITTED":
            raise KeyboardInterrupt
        real_save(store, manifest)

    monkeypatch.setattr(executions, "save", crash)
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "crash").exit_code == 130
    monkeypatch.setattr(executions, "save", real_save)
    jobs_before = _state()["jobs"]
    rerun = cli("create", "execution", *P, "--execFile", str(exec_file), "crash", "-o", "json")
    assert rerun.exit_code == 0, rerun.stderr
    assert _state()["jobs"] == jobs_before  # recorded, not resubmitted
    assert json.loads(rerun.stdout)["state"] == "SUBMITTED"


@pytest.mark.usefixtures("aws")
def test_reserved_and_oversized_requests_are_refused_before_aws(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 3)
    exec_file.write_text(exec_file.read_text().replace("TEAM: vision", "BIG: " + "x" * 40_000))
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "huge")
    assert result.exit_code == 3 and "AWS Batch accepts 30,720" in result.stderr
    assert _state()["jobs"] == []


@pytest.mark.usefixtures("aws")
def test_a_dry_run_fails_on_oversized_envs_as_a_real_run_does_before_any_write(
    cli: Invoke,
) -> None:
    exec_file = register_with_items(cli, 3)
    exec_file.write_text(exec_file.read_text().replace("TEAM: vision", "BIG: " + "x" * 40_000))
    s3 = boto3.client("s3", region_name="us-east-1")
    before = [o["Key"] for o in s3.list_objects_v2(Bucket="bm-bucket")["Contents"]]
    assert all(key.startswith("registry/") for key in before)  # only the launch plan
    for extra in (("--dryRun",), ()):
        result = cli(
            "create",
            "execution",
            *P,
            "--execFile",
            str(exec_file),
            "big",
            "--backend",
            "aws",
            *extra,
        )
        assert result.exit_code == 3, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: SubmitJob big: the SubmitJob request is 41,")
        assert "AWS Batch accepts 30,720 bytes (30 KiB) at most" in line
        assert "its largest part is environment BIG (40,002 bytes)" in line
        assert "exec file's envs" in line
        after = [o["Key"] for o in s3.list_objects_v2(Bucket="bm-bucket")["Contents"]]
        assert after == before  # nothing staged, no manifest
        assert _state()["definitions"] == [] and _state()["jobs"] == []


@pytest.mark.usefixtures("aws")
def test_an_invalid_queue_is_refused(cli: Invoke, monkeypatch) -> None:
    from moto.batch.models import BatchBackend

    describe = BatchBackend.describe_job_queues

    def invalid(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # moto reports every queue VALID; AWS can say INVALID.
        return [
            dict(q, status="INVALID", statusReason="CE has no instances")
            for q in describe(self, *args, **kwargs)
        ]

    monkeypatch.setattr(BatchBackend, "describe_job_queues", invalid)
    exec_file = register_with_items(cli, 3)
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "inv")
    assert result.exit_code == 5
    assert "job queue 'critical' is ENABLED/INVALID: CE has no instances" in result.stderr
