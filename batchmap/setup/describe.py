"""What `batchmap setup` makes, described once from the config (no AWS calls).

``describe(config)`` turns ``queues.executionQueues``, the ``setup:`` section,
``storage`` and ``aws.logGroup`` into a :class:`~batchmap.setup.model.Stack`:
the roles Flyte's guide asks for, the bucket and log group, the compute
environment and one job queue per execution queue. The subnets and security
groups are template parameters: given in the config, or (for ``setup`` itself)
the default VPC's (``network.default_network``).
"""

from __future__ import annotations

import re
from typing import Any

from batchmap.aws.iam import ECS_TASKS, pass_role_statement
from batchmap.config.loader import Config
from batchmap.errors import InvalidInputError
from batchmap.files.store import parse_s3_uri
from batchmap.setup.model import GetAtt, Output, Parameter, Ref, Resource, Stack, Sub

PASS_ROLE_POLICY_NAME = "batchmap-pass-role"
STORAGE_POLICY_NAME = "batchmap-storage"
SERVICE_ROLE = "batchmap-batch-service"
INSTANCE_ROLE = "batchmap-ecs-instance"
DEFAULT_USER_ROLE = "batchmap-task"
SUBNETS = "Subnets"
SECURITY_GROUPS = "SecurityGroupIds"
USER_ROLE_OUTPUT = "UserRoleArn"


def trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def managed(policy: str) -> Sub:
    """An AWS managed policy's ARN, in the partition of the account it lands in."""
    return Sub("arn:${AWS::Partition}:iam::aws:policy/" + policy)


def user_role_name(config: Config) -> str | None:
    """The role `setup` makes for children (exec files' iamRoleARN), when it makes one."""
    if not config.setup:
        return None
    return str((config.setup.get("userRole") or {}).get("name", DEFAULT_USER_ROLE))


# The network, when the config names none: template parameters for CloudFormation,
# the default VPC's for `setup` itself (network.py).
NETWORK = (
    Parameter(
        SUBNETS,
        "List<AWS::EC2::Subnet::Id>",
        "Subnets of the compute environment (batchmap setup uses the default VPC's "
        "default subnets; or set setup.computeEnvironment.subnets)",
    ),
    Parameter(
        SECURITY_GROUPS,
        "List<AWS::EC2::SecurityGroup::Id>",
        "Security groups of the compute environment (batchmap setup uses the VPC's "
        "'default' group; or set setup.computeEnvironment.securityGroups)",
    ),
)


def given_network(config: Config) -> dict[str, list[str]]:
    """The subnets and security groups the config names (by parameter), if any."""
    compute = config.setup.get("computeEnvironment") or {}
    given = {SUBNETS: compute.get("subnets"), SECURITY_GROUPS: compute.get("securityGroups")}
    return {k: list(v) for k, v in given.items() if v}


def _logical(prefix: str, name: str) -> str:
    return prefix + "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _role(logical_id: str, label: str, name: str, service: str, policies: list[Any]) -> Resource:
    properties: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust(service)}
    if policies:
        properties["ManagedPolicyArns"] = policies
    return Resource(logical_id, "AWS::IAM::Role", label, properties)


def _principal(arn: str) -> tuple[str, str]:
    """("Roles" | "Users", name) of an IAM role or user ARN (paths dropped: IAM takes names)."""
    kind, _, name = arn.split(":", 5)[5].partition("/")
    return ("Roles" if kind == "role" else "Users"), name.rsplit("/", 1)[-1]


def _compute(config: Config, service_role: Any, instance_profile: Any) -> Resource:
    c = dict(config.setup.get("computeEnvironment") or {})
    kind = c.get("type", "SPOT")
    network = given_network(config)
    resources: dict[str, Any] = {
        "Type": kind,
        "MaxvCpus": c.get("maxvCpus", 256),
        "Subnets": network.get(SUBNETS) or Ref(SUBNETS),
        "SecurityGroupIds": network.get(SECURITY_GROUPS) or Ref(SECURITY_GROUPS),
    }
    if kind in ("EC2", "SPOT"):
        resources.update(
            MinvCpus=c.get("minvCpus", 0),
            InstanceTypes=list(c.get("instanceTypes") or ["optimal"]),
            AllocationStrategy=c.get(
                "allocationStrategy",
                "SPOT_CAPACITY_OPTIMIZED" if kind == "SPOT" else "BEST_FIT_PROGRESSIVE",
            ),
            InstanceRole=instance_profile,
        )
    return Resource(
        "ComputeEnvironment",
        "AWS::Batch::ComputeEnvironment",
        "compute environment",
        {
            "ComputeEnvironmentName": c.get("name", "batchmap"),
            "Type": "MANAGED",
            "State": "ENABLED",
            "ServiceRole": service_role,
            "ComputeResources": resources,
        },
    )


def _storage_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """What a child needs of the store: read its inputs, write its outputs."""
    objects = f"{prefix.strip('/')}/*" if prefix.strip("/") else "*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/{objects}"),
            },
            {
                # Without it S3 answers 403 where a key is missing, not 404.
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}"),
            },
        ],
    }


def describe(config: Config) -> Stack:
    """Every resource `setup` makes for ``config``, in the order it makes them."""
    setup = config.setup
    if not setup:
        raise InvalidInputError(
            "the config has no setup: section",
            hint="'batchmap config init --backend aws' writes one; see docs/setup.md",
        )
    compute = setup.get("computeEnvironment") or {}
    kind = compute.get("type", "SPOT")
    resources: list[Resource] = []

    service_role: Any = compute.get("serviceRole")
    if not service_role:
        resources.append(
            _role(
                "BatchServiceRole",
                "Batch service role",
                SERVICE_ROLE,
                "batch.amazonaws.com",
                [managed("service-role/AWSBatchServiceRole")],
            )
        )
        service_role = GetAtt("BatchServiceRole", "Arn")
    instance_profile: Any = compute.get("instanceRole")
    if kind in ("EC2", "SPOT") and not instance_profile:
        resources.append(
            _role(
                "InstanceRole",
                "instance role",
                INSTANCE_ROLE,
                "ec2.amazonaws.com",
                [managed("service-role/AmazonEC2ContainerServiceforEC2Role")],
            )
        )
        resources.append(
            Resource(
                "InstanceProfile",
                "AWS::IAM::InstanceProfile",
                "instance profile",
                {"InstanceProfileName": INSTANCE_ROLE, "Roles": [Ref("InstanceRole")]},
            )
        )
        instance_profile = GetAtt("InstanceProfile", "Arn")

    user = setup.get("userRole") or {}
    resources.append(
        _role(
            "UserRole",
            "user role",
            user.get("name", DEFAULT_USER_ROLE),
            ECS_TASKS,
            list(user.get("managedPolicies") or []),
        )
    )
    storage_bucket, prefix = (
        parse_s3_uri(config.storage) if config.storage.startswith("s3://") else (None, "")
    )
    if storage_bucket:
        resources.append(
            Resource(
                "StoragePolicy",
                "AWS::IAM::Policy",
                "storage policy",
                {
                    "PolicyName": STORAGE_POLICY_NAME,
                    "PolicyDocument": _storage_policy(storage_bucket, prefix),
                    "Roles": [Ref("UserRole")],
                },
            )
        )
    principal = setup.get("passRolePrincipal")
    if principal:
        key, name = _principal(principal)
        resources.append(
            Resource(
                "PassRolePolicy",
                "AWS::IAM::Policy",
                "PassRole policy",
                {
                    "PolicyName": PASS_ROLE_POLICY_NAME,
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [pass_role_statement(GetAtt("UserRole", "Arn"))],
                    },
                    key: [name],
                },
            )
        )
    bucket = setup.get("bucket") or storage_bucket
    if bucket:
        resources.append(
            Resource(
                "Bucket",
                "AWS::S3::Bucket",
                "S3 bucket",
                {
                    "BucketName": bucket,
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "IgnorePublicAcls": True,
                        "BlockPublicPolicy": True,
                        "RestrictPublicBuckets": True,
                    },
                },
            )
        )
    resources.append(
        Resource("LogGroup", "AWS::Logs::LogGroup", "log group", {"LogGroupName": config.log_group})
    )
    resources.append(_compute(config, service_role, instance_profile))
    queues = config.queues.get("executionQueues") or []
    for queue in sorted({q["dynamic"] for q in queues if q.get("dynamic")}):
        resources.append(
            Resource(
                _logical("Queue", queue),
                "AWS::Batch::JobQueue",
                "job queue",
                {
                    "JobQueueName": queue,
                    "Priority": 1,
                    "State": "ENABLED",
                    "ComputeEnvironmentOrder": [
                        {"Order": 1, "ComputeEnvironment": Ref("ComputeEnvironment")}
                    ],
                },
            )
        )

    return Stack(
        description="AWS Batch for batchmap (Flyte's 'AWS Batch Setup for Map Tasks'), "
        "generated by batchmap setup -o cloudformation",
        resources=tuple(resources),
        parameters=tuple(p for p in NETWORK if p.logical_id not in given_network(config)),
        outputs=(Output(USER_ROLE_OUTPUT, GetAtt("UserRole", "Arn"), "iamRoleARN for exec files"),),
    )
