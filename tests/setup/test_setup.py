"""batchmap setup against an empty moto account with a network given in the config:
create, rerun, dry run, differences, partitions, and the CloudFormation template
accepted by moto's CloudFormation and by cfn-lint. The default-VPC path, partial
failures and the first run from `config init` are in test_setup_first_run.py."""

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from batchmap.aws.clients import partition_for
from tests.conftest import Invoke, write

REGION = "us-east-1"


def _empty_account(region: str) -> None:
    """A VPC with a subnet and a security group, and the config that sets up the guide."""
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    partition = partition_for(region)
    write(
        Path("batchmap.yaml"),
        f"""\
backend: aws
storage: s3://team-batchmap/store
registry: s3://team-batchmap/registry
aws:
  region: {region}
queues:
  executionQueues:
    - dynamic: default
      attributes: [default]
    - dynamic: critical
      attributes: [critical]
  workflowConfigs:
    - tags: [default]
setup:
  computeEnvironment:
    name: batchmap-spot
    type: SPOT
    subnets: [{subnet}]
    securityGroups: [{group}]
    maxvCpus: 64
  userRole:
    name: batchmap-task
    managedPolicies: ["arn:{partition}:iam::aws:policy/AmazonS3ReadOnlyAccess"]
  passRolePrincipal: arn:{partition}:iam::123456789012:role/ci-runner
""",
    )
    boto3.client("iam", region_name=region).create_role(
        RoleName="ci-runner",
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


# AWS-managed policies exist on AWS; moto loads them only when asked.
MOTO = {"batch": {"use_docker": False}, "iam": {"load_aws_managed_policies": True}}


@pytest.fixture
def empty_account(isolated: Path):
    with mock_aws(config=MOTO):
        _empty_account(REGION)
        yield


def _actions(result) -> dict[str, str]:
    return {f"{r['resource']}:{r['name']}": r["action"] for r in json.loads(result.stdout)}


def _snapshot() -> dict:
    iam = boto3.client("iam", region_name=REGION)
    batch = boto3.client("batch", region_name=REGION)
    return {
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "envs": [
            e["computeEnvironmentName"]
            for e in batch.describe_compute_environments()["computeEnvironments"]
        ],
        "queues": [q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]],
        "buckets": [
            b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]
        ],
    }


@pytest.mark.usefixtures("empty_account")
def test_setup_creates_everything_then_changes_nothing_and_doctor_passes(cli: Invoke) -> None:
    before = _snapshot()
    dry = cli("setup", "--dryRun", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    assert set(_actions(dry).values()) == {"create"}
    assert _snapshot() == before  # --dryRun changed nothing
    first = cli("setup", "-o", "json")
    assert first.exit_code == 0, first.stderr
    actions = _actions(first)
    assert set(actions.values()) == {"created"}
    assert set(actions) == {
        "Batch service role:batchmap-batch-service",
        "instance role:batchmap-ecs-instance",
        "instance profile:batchmap-ecs-instance",
        "user role:batchmap-task",
        "PassRole policy:role/ci-runner",
        "storage policy:role/batchmap-task",
        "S3 bucket:team-batchmap",
        "log group:/aws/batch/job",
        "compute environment:batchmap-spot",
        "job queue:critical",
        "job queue:default",
    }
    iam = boto3.client("iam", region_name=REGION)
    policy = iam.get_role_policy(RoleName="ci-runner", PolicyName="batchmap-pass-role")
    assert "arn:aws:iam::123456789012:role/batchmap-task" in json.dumps(policy["PolicyDocument"])
    s3 = boto3.client("s3", region_name=REGION)
    assert all(
        s3.get_public_access_block(Bucket="team-batchmap")[
            "PublicAccessBlockConfiguration"
        ].values()
    )
    second = cli("setup", "-o", "json")
    assert set(_actions(second).values()) == {"exists"}
    assert "nothing to do" in second.stderr
    storage = iam.get_role_policy(RoleName="batchmap-task", PolicyName="batchmap-storage")
    assert storage["PolicyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws:s3:::team-batchmap/store/*"
    )
    doctor = cli("doctor", "-o", "json")  # no --role: the role setup made (setup.userRole)
    assert doctor.exit_code == 0, doctor.stdout + doctor.stderr
    rows = {r["check"]: r for r in json.loads(doctor.stdout)}
    assert rows["role: role exists"]["message"] == "arn:aws:iam::123456789012:role/batchmap-task"


@pytest.mark.usefixtures("empty_account")
def test_a_difference_is_reported_and_left_alone_without_update(cli: Invoke) -> None:
    assert cli("setup").exit_code == 0
    batch = boto3.client("batch", region_name=REGION)
    batch.update_job_queue(jobQueue="critical", state="DISABLED")
    batch.update_compute_environment(computeEnvironment="batchmap-spot", state="DISABLED")
    report = cli("setup", "-o", "json")
    actions = _actions(report)
    assert actions["job queue:critical"] == "differs"
    assert actions["compute environment:batchmap-spot"] == "differs"
    assert "re-run with --update" in report.stderr
    queue = batch.describe_job_queues(jobQueues=["critical"])["jobQueues"][0]
    assert queue["state"] == "DISABLED"  # left alone
    fixed = cli("setup", "--update", "-o", "json")
    assert fixed.exit_code == 0, fixed.stderr
    assert _actions(fixed)["job queue:critical"] == "updated"
    assert batch.describe_job_queues(jobQueues=["critical"])["jobQueues"][0]["state"] == "ENABLED"
    assert (
        batch.describe_compute_environments(computeEnvironments=["batchmap-spot"])[
            "computeEnvironments"
        ][0]["state"]
        == "ENABLED"
    )


def _lint(template: str, region: str = REGION) -> list[str]:
    """cfn-lint's findings on a template (errors and warnings; informational ones aside)."""
    from cfnlint.api import lint

    return [
        f"{m.rule.id} {m.message} (line {m.linenumber})"
        for m in lint(template, regions=[region])
        if not m.rule.id.startswith("I")
    ]


# moto 5.2.5's CloudFormation ignores an AWS::IAM::Role's ManagedPolicyArns and an
# AWS::S3::Bucket's PublicAccessBlockConfiguration; CloudFormation applies both.
MOTO_CFN_GAPS = ("missing policies arn:aws:iam::aws:policy/", "public access is not blocked")


def _beyond_moto_cfn(rows: list[dict]) -> list[dict]:
    """The rows of a plan that are not `exists`, but for moto's CloudFormation gaps."""
    return [
        r
        for r in rows
        if r["action"] != "exists"
        and not (r["action"] == "differs" and r["detail"].startswith(MOTO_CFN_GAPS))
    ]


def _create_stack(template: str, parameters: dict[str, str] | None = None) -> set[str]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName="batchmap",
        TemplateBody=template,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
    )
    stack = cfn.describe_stacks(StackName="batchmap")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {
        r["ResourceType"]
        for r in cfn.list_stack_resources(StackName="batchmap")["StackResourceSummaries"]
    }


@pytest.mark.usefixtures("empty_account")
def test_cloudformation_template_is_accepted_by_cloudformation_and_cfn_lint(cli: Invoke) -> None:
    result = cli("setup", "-o", "cloudformation")
    assert result.exit_code == 0, result.stderr
    assert "Parameters" not in result.stdout  # the config names the network
    assert _snapshot()["queues"] == []  # printing a template touches nothing
    assert _lint(result.stdout) == []
    types = _create_stack(result.stdout)
    assert {
        "AWS::Batch::ComputeEnvironment",
        "AWS::Batch::JobQueue",
        "AWS::IAM::Role",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::Policy",
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
    } <= types
    assert sorted(_snapshot()["queues"]) == ["critical", "default"]
    iam = boto3.client("iam", region_name=REGION)
    passing = iam.get_role_policy(RoleName="ci-runner", PolicyName="batchmap-pass-role")
    assert passing["PolicyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws:iam::123456789012:role/batchmap-task"
    )
    # What the stack made is what `setup` would have made: nothing left to create, and
    # nothing different but what moto's CloudFormation leaves out.
    after = cli("setup", "--dryRun", "-o", "json")
    assert after.exit_code == 0, after.stderr
    assert _beyond_moto_cfn(json.loads(after.stdout)) == []


def test_cloudformation_template_without_a_network_takes_it_as_parameters(cli: Invoke) -> None:
    """No subnets in the config: the template asks for them (typed parameters), and a
    stack made with the default VPC's is what `setup` itself would have made."""
    with mock_aws(config=MOTO):
        _empty_account(REGION)
        text = Path("batchmap.yaml").read_text()
        network = text[text.index("    subnets:") : text.index("    maxvCpus")]
        Path("batchmap.yaml").write_text(text.replace(network, ""))
        result = cli("setup", "-o", "cloudformation")
        assert result.exit_code == 0, result.stderr
        assert _lint(result.stdout) == []
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        subnets = [
            s["SubnetId"]
            for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
                "Subnets"
            ]
        ]
        group = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"][0]["GroupId"]
        _create_stack(result.stdout, {"Subnets": ",".join(subnets), "SecurityGroupIds": group})
        after = cli("setup", "--dryRun", "-o", "json")
        assert after.exit_code == 0, after.stderr
        assert _beyond_moto_cfn(json.loads(after.stdout)) == []


def test_cfn_lint_finds_what_aws_would_refuse() -> None:
    """The lint is no rubber stamp: an id AWS does not accept is reported."""
    template = (
        "Resources:\n  Env:\n    Type: AWS::Batch::ComputeEnvironment\n    Properties:\n"
        "      Type: MANAGED\n      ComputeResources:\n        Type: SPOT\n"
        "        MaxvCpus: 4\n        Subnets: [subnet-1]\n        SecurityGroupIds: [sg-1]\n"
    )
    assert any("subnet-1" in finding for finding in _lint(template))


def test_setup_needs_a_setup_section(cli: Invoke) -> None:
    write(Path("batchmap.yaml"), "backend: local\n")
    result = cli("setup", "-o", "cloudformation")
    assert result.exit_code == 3 and "no setup: section" in result.stderr


def test_setup_section_is_validated(cli: Invoke) -> None:
    write(
        Path("batchmap.yaml"),
        "setup:\n  computeEnvironment:\n    subnets: [net-1]\n    type: SPOTTY\n",
    )
    result = cli("config", "validate")
    assert result.exit_code == 3
    assert "setup.computeEnvironment.subnets[0]: must be a subnet id" in result.stderr
    assert "setup.computeEnvironment.type: must be one of" in result.stderr


def test_managed_policies_use_the_regions_partition_in_china(cli: Invoke) -> None:
    """moto keeps AWS's managed policies of the aws-cn partition under arn:aws-cn:, and
    refuses arn:aws: ones there, as AWS does."""
    region = "cn-north-1"
    with mock_aws(config=MOTO):
        _empty_account(region)
        dry = cli("setup", "--dryRun", "-o", "json")
        assert dry.exit_code == 0, dry.stderr
        details = {r["resource"]: r["detail"] for r in json.loads(dry.stdout)}
        assert details["Batch service role"] == (
            "trusts batch.amazonaws.com; attaches "
            "arn:aws-cn:iam::aws:policy/service-role/AWSBatchServiceRole"
        )
        result = cli("setup", "-o", "json")
        assert result.exit_code == 0, result.stderr
        iam = boto3.client("iam", region_name=region)
        attached = {
            role: [
                p["PolicyArn"]
                for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
            ]
            for role in ("batchmap-batch-service", "batchmap-ecs-instance", "batchmap-task")
        }
    assert attached == {
        "batchmap-batch-service": ["arn:aws-cn:iam::aws:policy/service-role/AWSBatchServiceRole"],
        "batchmap-ecs-instance": [
            "arn:aws-cn:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
        ],
        "batchmap-task": ["arn:aws-cn:iam::aws:policy/AmazonS3ReadOnlyAccess"],
    }


def test_managed_policies_use_the_regions_partition_in_govcloud(cli: Invoke) -> None:
    """moto puts GovCloud in the aws partition, so only the plan is checked there."""
    with mock_aws(config=MOTO):
        _empty_account("us-gov-west-1")
        dry = cli("setup", "--dryRun", "-o", "json")
        assert dry.exit_code == 0, dry.stderr
        details = {r["resource"]: r["detail"] for r in json.loads(dry.stdout)}
        policy = cli("doctor", "--print-policy")
    assert details["instance role"].endswith(
        "attaches arn:aws-us-gov:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    )
    assert details["Batch service role"].endswith(
        "arn:aws-us-gov:iam::aws:policy/service-role/AWSBatchServiceRole"
    )
    resources = [
        r for s in json.loads(policy.stdout)["Statement"] for r in s["Resource"] if "s3" in r
    ]
    assert resources == ["arn:aws-us-gov:s3:::team-batchmap/*", "arn:aws-us-gov:s3:::team-batchmap"]
