"""doctor against moto: a good setup passes; missing, disabled, invalid and empty queues,
bad roles and missing buckets fail with exit 5; PassRole allowed/denied via Stubber."""

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from batchmap.aws.iam import check_pass_role, trust_problem
from tests.aws_account import ROLE_ARN
from tests.conftest import Invoke


def _rows(result) -> dict[str, dict]:
    return {row["check"]: row for row in json.loads(result.stdout)}


@pytest.mark.usefixtures("aws")
def test_a_good_setup_passes(cli: Invoke) -> None:
    result = cli("doctor", "--role", ROLE_ARN, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = _rows(result)
    assert rows["credentials"]["status"] == "ok"
    assert rows["queue default"]["status"] == "ok"
    assert "ENABLED/VALID, UNMANAGED via spot-ce" in rows["queue critical"]["message"]
    assert rows["storage"]["status"] == "ok"
    assert rows["role: trust policy"]["status"] == "ok"
    assert rows["role: iam:PassRole"]["status"] == "unverified"
    assert rows["log group"]["status"] == "warn"  # no job has run yet


@pytest.mark.usefixtures("aws")
def test_problems_fail_with_exit_5(cli: Invoke) -> None:
    Path("batchmap.yaml").write_text(
        Path("batchmap.yaml")
        .read_text()
        .replace(
            "    - dynamic: critical\n",
            "    - dynamic: ghost\n      attributes: [x]\n    - dynamic: critical\n",
        )
    )
    boto3.client("batch", region_name="us-east-1").update_job_queue(
        jobQueue="default", state="DISABLED"
    )
    result = cli("doctor", "--role", "arn:aws:iam::123456789012:role/missing", "-o", "json")
    assert result.exit_code == 5
    rows = _rows(result)
    assert rows["queue ghost"]["status"] == "fail"
    assert rows["queue default"]["status"] == "fail"
    assert "DISABLED" in rows["queue default"]["message"]
    assert rows["queue critical"]["status"] == "ok"
    assert rows["role: role exists"]["status"] == "fail"
    assert "3 checks failed" in result.stderr


@pytest.mark.usefixtures("aws")
def test_compute_environments_that_cannot_run_jobs(cli: Invoke, monkeypatch) -> None:
    from moto.batch.models import BatchBackend, batch_backends

    env = next(iter(batch_backends["123456789012"]["us-east-1"]._compute_environments.values()))
    env.state = "DISABLED"
    rows = _rows(cli("doctor", "-o", "json"))
    assert rows["queue default"]["status"] == "fail"
    assert "spot-ce disabled" in rows["queue default"]["message"]
    env.state = "ENABLED"
    describe = BatchBackend.describe_compute_environments

    def invalid(self, environments=None):  # type: ignore[no-untyped-def]
        # moto reports every compute environment VALID; AWS can say INVALID.
        return [
            dict(e, status="INVALID", statusReason="CLIENT_ERROR - bad subnet")
            for e in describe(self, environments)
        ]

    monkeypatch.setattr(BatchBackend, "describe_compute_environments", invalid)
    rows = _rows(cli("doctor", "-o", "json"))
    assert "spot-ce INVALID" in rows["queue critical"]["message"]


@pytest.mark.usefixtures("aws")
def test_missing_bucket_fails(cli: Invoke) -> None:
    boto3.client("s3", region_name="us-east-1").delete_bucket(Bucket="bm-bucket")
    result = cli("doctor", "-o", "json")
    assert result.exit_code == 5
    assert _rows(result)["storage"]["status"] == "fail"


def test_local_backend_needs_no_aws(cli: Invoke) -> None:
    result = cli("doctor")
    assert result.exit_code == 0, result.stderr
    assert "credentials" not in result.stdout


def test_print_policy_covers_what_batchmap_calls(cli: Invoke) -> None:
    policy = json.loads(cli("doctor", "--print-policy").stdout)
    actions = {
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {
        "batch:SubmitJob",
        "batch:DescribeJobs",
        "batch:ListJobs",
        "iam:PassRole",
        "logs:FilterLogEvents",
        "sts:GetCallerIdentity",
    } <= actions


@pytest.mark.parametrize(
    ("document", "status"),
    [
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            },
            None,
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]},
                        "Action": ["sts:AssumeRole"],
                    }
                ]
            },
            None,
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            },
            "fail",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    },
                    {"Effect": "Deny", "Principal": "*", "Action": "sts:*"},
                ]
            },
            "fail",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "1"}},
                    }
                ]
            },
            "warn",
        ),
        ("%7B%22Statement%22%3A%20%5B%5D%7D", "fail"),
        ("%7Bnot json", "fail"),
    ],
)
def test_trust_policies(document, status) -> None:
    problem = trust_problem(document)
    assert (problem[0] if problem else None) == status


def test_pass_role_allowed_and_denied_with_stubber() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    sts = boto3.client("sts", region_name="us-east-1")
    caller = {
        "UserId": "u",
        "Account": "123456789012",
        "Arn": "arn:aws:sts::123456789012:assumed-role/ci-role/session",
    }
    for decision, status in (("allowed", "ok"), ("implicitDeny", "fail")):
        with Stubber(iam) as iam_stub, Stubber(sts) as sts_stub:
            sts_stub.add_response("get_caller_identity", caller)
            iam_stub.add_response(
                "get_role",
                {
                    "Role": {
                        "Path": "/ci/",
                        "RoleName": "ci-role",
                        "RoleId": "AROAEXAMPLEEXAMPLE12",
                        "Arn": "arn:aws:iam::123456789012:role/ci/ci-role",
                        "CreateDate": "2024-01-01T00:00:00Z",
                    }
                },
                {"RoleName": "ci-role"},
            )
            iam_stub.add_response(
                "simulate_principal_policy",
                {
                    "EvaluationResults": [
                        {"EvalActionName": "iam:PassRole", "EvalDecision": decision}
                    ]
                },
                {
                    "PolicySourceArn": "arn:aws:iam::123456789012:role/ci/ci-role",
                    "ActionNames": ["iam:PassRole"],
                    "ResourceArns": [ROLE_ARN],
                },
            )
            check = check_pass_role(iam, sts, ROLE_ARN)
        assert check.status == status
        if status == "fail":
            assert '"Action": "iam:PassRole"' in check.fix


@pytest.mark.usefixtures("aws")
def test_without_role_the_setup_role_and_flyteadmins_role_are_checked(cli: Invoke) -> None:
    """The role `setup` makes (setup.userRole, in the caller's account) needs no --role;
    with flyteadmin.assumableIamRole too, each row names its role."""
    config = Path("batchmap.yaml").read_text()
    Path("batchmap.yaml").write_text(config + "setup:\n  userRole:\n    name: batchmap-task\n")
    rows = _rows(cli("doctor", "-o", "json"))
    assert rows["role: role exists"]["message"] == ROLE_ARN
    assert rows["role: trust policy"]["status"] == "ok"
    other = "arn:aws:iam::123456789012:role/flyte-default"
    Path("batchmap.yaml").write_text(
        config
        + "setup:\n  userRole:\n    name: batchmap-task\n"
        + f"flyteadmin:\n  assumableIamRole: {other}\n"
    )
    result = cli("doctor", "-o", "json")
    assert result.exit_code == 5
    rows = _rows(result)
    assert rows["role batchmap-task: role exists"]["status"] == "ok"
    assert rows["role flyte-default: role exists"]["status"] == "fail"
    # --role replaces both.
    only = _rows(cli("doctor", "--role", ROLE_ARN, "-o", "json"))
    assert [k for k in only if k.startswith("role")] == [
        "role: role exists",
        "role: trust policy",
        "role: iam:PassRole",
    ]
