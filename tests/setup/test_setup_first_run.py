"""The README's first AWS run with nothing hand-written, against moto in-process:
`config init --backend aws` → `setup --dryRun` → `setup` → `doctor`, on the account's
default VPC; an account with no default VPC; a setup that AWS stops midway, then a
re-run that finishes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from tests.conftest import Invoke

REGION = "us-east-1"
ACCOUNT = "123456789012"
USER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/batchmap-task"
# AWS-managed policies exist on AWS; moto loads them only when asked.
MOTO = {"batch": {"use_docker": False}, "iam": {"load_aws_managed_policies": True}}
INIT = ("config", "init", "--path", "batchmap.yaml", "--backend", "aws")
STORE = ("--storage", "s3://team-batchmap/store", "--queue", "tutorial", "--region", REGION)


@pytest.fixture
def account(isolated: Path) -> Iterator[None]:
    with mock_aws(config=MOTO):
        yield


def _rows(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {f"{r['resource']}:{r['name']}": r for r in json.loads(result.stdout)}


def _default_vpc(ec2) -> tuple[str, list[str], str]:  # type: ignore[no-untyped-def]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    group = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    return vpc["VpcId"], sorted(s["SubnetId"] for s in subnets), group


def _delete_default_vpc(ec2) -> None:  # type: ignore[no-untyped-def]
    vpc, subnets, _ = _default_vpc(ec2)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


@pytest.mark.usefixtures("account")
def test_config_init_then_setup_on_the_default_vpc_then_doctor(cli: Invoke) -> None:
    assert cli(*INIT, *STORE).exit_code == 0
    text = Path("batchmap.yaml").read_text()
    assert "\nsetup:\n" in text and "# subnets:" in text  # a commented, active section

    before = cli("doctor")  # the role setup will make is checked without --role
    assert before.exit_code == 5
    assert "role: role exists" in before.stdout and USER_ROLE in before.stdout

    dry = cli("setup", "--dryRun")
    assert dry.exit_code == 0, dry.stderr
    assert "dry run: 9 to create" in dry.stderr
    assert f"iamRoleARN for exec files: {USER_ROLE}" in dry.stderr
    assert dry.stderr.rstrip().endswith("next: batchmap setup")

    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, subnets, group = _default_vpc(ec2)
    assert f"network from the default VPC {vpc}" in dry.stderr

    first = cli("setup")
    assert first.exit_code == 0, first.stderr
    assert "✓ 9 created, 0 updated, 0 already there" in first.stderr
    lines = first.stderr.rstrip().splitlines()
    assert lines[-2:] == [f"iamRoleARN for exec files: {USER_ROLE}", "next: batchmap doctor"]
    env = boto3.client("batch", region_name=REGION).describe_compute_environments(
        computeEnvironments=["batchmap"]
    )["computeEnvironments"][0]
    assert sorted(env["computeResources"]["subnets"]) == subnets
    assert env["computeResources"]["securityGroupIds"] == [group]

    again = cli("setup", "-o", "json")
    assert {r["action"] for r in _rows(again).values()} == {"exists"}
    assert _rows(again)["user role:batchmap-task"]["arn"] == USER_ROLE

    doctor = cli("doctor", "-o", "json")
    assert doctor.exit_code == 0, doctor.stdout + doctor.stderr
    checks = {r["check"]: r for r in json.loads(doctor.stdout)}
    assert checks["role: role exists"]["message"] == USER_ROLE
    assert checks["role: trust policy"]["status"] == "ok"
    assert checks["queue tutorial"]["status"] == "ok"


@pytest.mark.usefixtures("account")
def test_the_next_command_carries_the_global_options(cli: Invoke) -> None:
    assert cli(*INIT, *STORE).exit_code == 0
    Path("batchmap.yaml").rename("team config.yaml")
    result = cli("--config", "team config.yaml", "--region", REGION, "setup", "--dryRun")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.rstrip().endswith(
        f"next: batchmap --config 'team config.yaml' --region {REGION} setup"
    )


@pytest.mark.usefixtures("account")
def test_no_default_vpc_says_which_keys_to_set(cli: Invoke) -> None:
    assert cli(*INIT, *STORE).exit_code == 0
    _delete_default_vpc(boto3.client("ec2", region_name=REGION))
    result = cli("setup", "--dryRun")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"error: the account has no default VPC in {REGION}: set "
        "setup.computeEnvironment.subnets and setup.computeEnvironment.securityGroups"
    ]
    assert cli("setup").exit_code == 3
    assert boto3.client("iam", region_name=REGION).list_roles()["Roles"] == []  # nothing made
    # The template needs no account: the network becomes its parameters.
    template = cli("setup", "-o", "cloudformation")
    assert template.exit_code == 0, template.stderr
    assert "List<AWS::EC2::Subnet::Id>" in template.stdout


@pytest.mark.usefixtures("account")
def test_subnets_without_security_groups_get_their_vpcs_default_group(cli: Invoke) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    assert cli(*INIT, *STORE).exit_code == 0
    text = Path("batchmap.yaml").read_text()
    Path("batchmap.yaml").write_text(
        text.replace("# subnets: [subnet-0abc1234]", f"subnets: [{subnet}]")
    )
    result = cli("setup")
    assert result.exit_code == 0, result.stderr
    env = boto3.client("batch", region_name=REGION).describe_compute_environments(
        computeEnvironments=["batchmap"]
    )["computeEnvironments"][0]
    assert env["computeResources"]["subnets"] == [subnet]
    assert env["computeResources"]["securityGroupIds"] == [group]


# -- AWS says no midway --------------------------------------------------------------------
class Refusals:
    """AWS answers an operation with an error, through botocore's own event hooks: a
    ``before-call`` handler that every new session registers (batchmap makes its own)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.builtin = list(botocore.handlers.BUILTIN_HANDLERS)
        self.handlers: list[tuple[str, object]] = []

    def __call__(self, operation: str, code: str = "AccessDenied", status: int = 403) -> None:
        service, name = operation.split(".")

        def answer(**_: object) -> tuple[AWSResponse, dict]:
            return AWSResponse("https://aws", status, {}, None), {
                "Error": {"Code": code, "Message": f"injected refusal of {name}"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }

        self.handlers.append((f"before-call.{service}.{name}", answer))
        self.monkeypatch.setattr(
            botocore.handlers, "BUILTIN_HANDLERS", [*self.builtin, *self.handlers]
        )

    def clear(self) -> None:
        self.handlers = []
        self.monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", self.builtin)


@pytest.fixture
def refuse(monkeypatch: pytest.MonkeyPatch) -> Refusals:
    return Refusals(monkeypatch)


@pytest.mark.usefixtures("account")
@pytest.mark.parametrize(
    ("code", "status", "exit_code"),
    [("AccessDeniedException", 403, 5), ("ServerException", 500, 6)],
)
def test_a_setup_stopped_midway_says_what_it_made_and_a_rerun_finishes(
    cli: Invoke, refuse: Refusals, code: str, status: int, exit_code: int
) -> None:
    assert cli(*INIT, *STORE).exit_code == 0
    refuse("batch.CreateJobQueue", code, status)
    stopped = cli("setup", "-o", "json")
    assert stopped.exit_code == exit_code
    rows = _rows(stopped)
    assert rows["job queue:tutorial"]["action"] == "failed"
    assert code in rows["job queue:tutorial"]["detail"]
    made = {k for k, r in rows.items() if r["action"] == "created"}
    assert "user role:batchmap-task" in made and "compute environment:batchmap" in made
    assert len(made) == 8
    assert (
        "setup stopped: created Batch service role batchmap-batch-service, instance role "
        "batchmap-ecs-instance, instance profile batchmap-ecs-instance, user role batchmap-task, "
        "storage policy role/batchmap-task, S3 bucket team-batchmap, log group /aws/batch/job, "
        "compute environment batchmap; not done: job queue tutorial"
    ) in stopped.stderr
    assert "re-run 'batchmap setup' to finish" in stopped.stderr
    assert f"error: batch:CreateJobQueue: {code}: injected refusal" in stopped.stderr
    assert "Traceback" not in stopped.stderr

    refuse.clear()
    finished = cli("setup", "-o", "json")
    assert finished.exit_code == 0, finished.stderr
    actions = {k: r["action"] for k, r in _rows(finished).items()}
    assert actions.pop("job queue:tutorial") == "created"
    assert set(actions.values()) == {"exists"}
    assert cli("doctor").exit_code == 0


@pytest.mark.usefixtures("account")
def test_an_early_refusal_leaves_the_rest_not_created(cli: Invoke, refuse: Refusals) -> None:
    assert cli(*INIT, *STORE).exit_code == 0
    refuse("iam.CreateRole", "AccessDenied", 403)
    stopped = cli("setup", "-o", "json")
    assert stopped.exit_code == 5
    actions = [r["action"] for r in json.loads(stopped.stdout)]
    assert actions == ["failed"] + ["not created"] * 8
    assert "setup stopped: created nothing; not done: Batch service role" in stopped.stderr
    assert boto3.client("iam", region_name=REGION).list_roles()["Roles"] == []


@pytest.mark.usefixtures("account")
def test_a_resource_half_made_is_undone_so_a_rerun_makes_it_whole(
    cli: Invoke, refuse: Refusals
) -> None:
    """The role is created, attaching its policy is refused: the role is deleted again."""
    assert cli(*INIT, *STORE).exit_code == 0
    refuse("iam.AttachRolePolicy")
    stopped = cli("setup", "-o", "json")
    assert stopped.exit_code == 5
    assert json.loads(stopped.stdout)[0]["action"] == "failed"
    assert "setup stopped: created nothing" in stopped.stderr
    iam = boto3.client("iam", region_name=REGION)
    assert iam.list_roles()["Roles"] == []
    refuse.clear()
    finished = cli("setup", "-o", "json")
    assert finished.exit_code == 0, finished.stderr
    assert {r["action"] for r in json.loads(finished.stdout)} == {"created"}


@pytest.mark.usefixtures("account")
def test_when_undoing_fails_too_the_error_says_how_to_finish(cli: Invoke, refuse: Refusals) -> None:
    assert cli(*INIT, *STORE).exit_code == 0
    refuse("iam.AttachRolePolicy")
    refuse("iam.DeleteRole")
    stopped = cli("setup")
    assert stopped.exit_code == 5
    assert "undoing what was made failed too: iam:DeleteRole: AccessDenied" in stopped.stderr
    assert "hint: finish it with 'batchmap setup --update'" in stopped.stderr
    refuse.clear()
    rerun = _rows(cli("setup", "--dryRun", "-o", "json"))
    assert rerun["Batch service role:batchmap-batch-service"]["action"] == "differs"
    assert "missing policies" in rerun["Batch service role:batchmap-batch-service"]["detail"]
    finished = cli("setup", "--update")
    assert finished.exit_code == 0, finished.stderr
    assert "8 created, 1 updated" in finished.stderr


@pytest.mark.usefixtures("account")
def test_a_compute_environment_aws_calls_invalid_stops_setup_with_its_reason(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The VALID waiter fails on INVALID (moto reports every compute environment VALID)."""
    from moto.batch.models import BatchBackend

    describe = BatchBackend.describe_compute_environments

    def invalid(self, environments=None):  # type: ignore[no-untyped-def]
        return [
            dict(e, status="INVALID", statusReason="CLIENT_ERROR - not authorized to assume role")
            for e in describe(self, environments)
        ]

    assert cli(*INIT, *STORE).exit_code == 0
    with monkeypatch.context() as patch:
        patch.setattr(BatchBackend, "describe_compute_environments", invalid)
        result = cli("setup")
        assert result.exit_code == 5
        assert (
            "error: compute environment batchmap: INVALID: CLIENT_ERROR - not authorized to "
            "assume role" in result.stderr
        )
        assert "not done: compute environment batchmap, job queue tutorial" in result.stderr
        report = _rows(cli("setup", "--dryRun", "-o", "json"))
        assert report["compute environment:batchmap"]["action"] == "differs"
        assert "INVALID: CLIENT_ERROR" in report["compute environment:batchmap"]["detail"]
    # Valid again (on AWS: fixed, then `setup --update`): a re-run makes the queue.
    finished = _rows(cli("setup", "-o", "json"))
    assert finished["job queue:tutorial"]["action"] == "created"
