"""AWS did it, and the answer was lost: nothing is submitted twice, nothing is lost.

A fault proxy (tests/faultproxy.py) sits between batchmap and moto's threaded
server: each request reaches moto and is carried out, then the answer is
dropped, reset, replaced by a 5xx or sent past the read timeout. batchmap runs
as the real executable in a subprocess pointed at the proxy, except where a
test needs a short read timeout (in-process, said in its docstring).
"""

from __future__ import annotations

import json

import boto3
import pytest

from batchmap.aws import clients as aws_clients
from batchmap.aws.clients import MAX_ATTEMPTS, ClientFactory
from tests.aws_account import ROLE_ARN, no_real_waits, register_with_items
from tests.conftest import Invoke, Result, run_batchmap
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.server
P = ("-p", "flytesnacks", "-d", "development")
QUEUE = "critical"  # flytesnacks/squares is matched to the critical queue


def _parents() -> list[str]:
    """Every array (or single) job in moto, whatever its status."""
    batch = boto3.client("batch", region_name="us-east-1")
    return sorted(
        j["jobId"]
        for q in ("critical", "default")
        for s in ("SUBMITTED", "PENDING", "RUNNABLE", "RUNNING", "SUCCEEDED", "FAILED")
        for j in batch.list_jobs(jobQueue=q, jobStatus=s)["jobSummaryList"]
        if ":" not in j["jobId"]
    )


def _revisions() -> list[int]:
    batch = boto3.client("batch", region_name="us-east-1")
    return sorted(
        d["revision"]
        for d in batch.describe_job_definitions(
            jobDefinitionName="batchmap-flytesnacks-development-squares", status="ACTIVE"
        )["jobDefinitions"]
    )


def _create(proxy: FaultProxy, exec_file, name: str, *extra: str) -> Result:  # type: ignore[no-untyped-def]
    return run_batchmap(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        name,
        "-o",
        "json",
        *extra,
        env={"AWS_ENDPOINT_URL": proxy.url},
    )


def _manifest(cli: Invoke, name: str) -> dict:
    result = cli("get", "execution", *P, name, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- botocore's attempts, counted where they arrive ------------------------------------------
def _submit_request(batch) -> dict:  # type: ignore[no-untyped-def]
    arn = batch.register_job_definition(
        jobDefinitionName="count",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 128, "command": ["true"]},
    )["jobDefinitionArn"]
    return {"jobName": "count", "jobQueue": QUEUE, "jobDefinition": arn}


def test_the_single_attempt_client_sends_submitjob_once(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_real_waits(monkeypatch)
    request = _submit_request(boto3.client("batch", region_name="us-east-1"))
    proxy.fail("batch:SubmitJob", status=503, times=None)
    once = ClientFactory(endpoint_url=proxy.url).client("batch", single_attempt=True)
    with pytest.raises(once.exceptions.ServerException):
        once.submit_job(**request)
    assert proxy.count("batch:SubmitJob") == 1
    assert len(_parents()) == 1  # moto made it; only the answer was lost


def test_a_normal_client_makes_exactly_the_documented_attempts(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_real_waits(monkeypatch)
    proxy.fail("batch:DescribeJobs", status=503, times=None)
    proxy.lose("logs:DescribeLogGroups", times=None)
    factory = ClientFactory(endpoint_url=proxy.url)
    with pytest.raises(factory.client("batch").exceptions.ServerException):
        factory.client("batch").describe_jobs(jobs=["x"])
    assert proxy.count("batch:DescribeJobs") == MAX_ATTEMPTS == 8
    from botocore.exceptions import ConnectionClosedError

    with pytest.raises(ConnectionClosedError):
        factory.client("logs").describe_log_groups()
    assert proxy.count("logs:DescribeLogGroups") == MAX_ATTEMPTS


# -- create execution under lost answers -----------------------------------------------------
@pytest.mark.parametrize("times", [1, None], ids=["once", "every-try"])
@pytest.mark.parametrize("how", ["lose", "reset", "fail"])
def test_a_lost_submitjob_answer_makes_one_array_job(
    cli: Invoke, proxy: FaultProxy, how: str, times: int | None
) -> None:
    exec_file = register_with_items(cli, 12)
    getattr(proxy, how)("batch:SubmitJob", times=times)
    created = _create(proxy, exec_file, "lost")
    assert created.exit_code == 0, created.stderr
    assert "Traceback" not in created.stderr
    (parent,) = _parents()  # exactly one array job in AWS
    assert proxy.count("batch:SubmitJob") == 1  # found by name and tags, not sent again
    manifest = json.loads(created.stdout)
    assert manifest["state"] == "SUBMITTED"
    assert [j["jobId"] for j in manifest["jobs"]] == [parent]
    assert [j["jobId"] for j in _manifest(cli, "lost")["jobs"]] == [parent]


def test_a_submitjob_answer_past_the_read_timeout_makes_one_array_job(
    cli: Invoke, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (the read timeout is shortened to 1 s; AWS's default is 60 s): the
    answer of SubmitJob comes 2 s late, after botocore has given up on it."""
    exec_file = register_with_items(cli, 5)
    monkeypatch.setattr(aws_clients, "READ_TIMEOUT", 1.0)
    proxy.delay("batch:SubmitJob", 2.0)
    created = cli(
        "create", "execution", *P, "--execFile", str(exec_file), "late", "-o", "json",
        env={"AWS_ENDPOINT_URL": proxy.url},
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    (parent,) = _parents()
    assert proxy.count("batch:SubmitJob") == 1
    assert [j["jobId"] for j in json.loads(created.stdout)["jobs"]] == [parent]


@pytest.mark.parametrize("times", [1, None], ids=["once", "every-try"])
def test_a_lost_registration_answer_piles_up_no_revisions(
    cli: Invoke, proxy: FaultProxy, times: int | None
) -> None:
    exec_file = register_with_items(cli, 4)
    proxy.lose("batch:RegisterJobDefinition", times=times)
    created = _create(proxy, exec_file, "reg")
    assert created.exit_code == 0, created.stderr
    assert proxy.count("batch:RegisterJobDefinition") == 1  # found by content, not sent again
    assert _revisions() == [1]
    assert json.loads(created.stdout)["jobDefinitionArn"].endswith(":1")
    assert len(_parents()) == 1


@pytest.mark.parametrize("times", [1, None], ids=["once", "every-try"])
def test_a_lost_manifest_write_never_makes_two_jobs(
    cli: Invoke, proxy: FaultProxy, times: int | None
) -> None:
    exec_file = register_with_items(cli, 6)
    proxy.lose("s3:PutObject", path="/crashy/execution.json", times=times)
    first = _create(proxy, exec_file, "crashy")
    if times is None:  # every answer lost: botocore gives up, exit 6, one line
        assert first.exit_code == 6, first.stderr
        assert "s3:PutObject" in first.stderr and "Traceback" not in first.stderr
        proxy.clear()
        first = _create(proxy, exec_file, "crashy")  # the same name again completes it
    assert first.exit_code == 0, first.stderr
    (parent,) = _parents()
    assert _manifest(cli, "crashy")["jobs"][0]["jobId"] == parent
    again = _create(proxy, exec_file, "crashy")
    assert again.exit_code == 3 and "exists" in again.stderr
    assert _parents() == [parent]


def test_lost_describejobs_answers_do_not_end_a_wait(cli: Invoke, proxy: FaultProxy) -> None:
    exec_file = register_with_items(cli, 5)
    proxy.lose("batch:DescribeJobs", times=2)
    proxy.reset("batch:DescribeJobs", times=1)
    proxy.fail("batch:DescribeJobs", status=500, times=1)
    waited = _create(proxy, exec_file, "waiting", "--wait")
    assert waited.exit_code == 0, waited.stderr
    assert "SUCCEEDED: 5 of 5 children succeeded" in waited.stderr
    assert proxy.count("batch:DescribeJobs") >= 5  # 4 answers lost, then read
    assert len(_parents()) == 1


def test_lost_iam_and_logs_answers_are_retried(cli: Invoke, proxy: FaultProxy) -> None:
    exec_file = register_with_items(cli, 3, role=ROLE_ARN)
    proxy.lose("iam:GetRole", times=2)
    created = _create(proxy, exec_file, "roles")
    assert created.exit_code == 0, created.stderr
    assert proxy.count("iam:GetRole") >= 3
    proxy.lose("logs:FilterLogEvents", times=2)
    logs = run_batchmap("logs", *P, "roles", env={"AWS_ENDPOINT_URL": proxy.url})
    assert logs.exit_code == 0, logs.stderr
    assert proxy.count("logs:FilterLogEvents") >= 3
