"""The resources of `batchmap setup` as a CloudFormation template (`setup -o cloudformation`)."""

from __future__ import annotations

import re
from typing import Any

from batchmap.aws.iam import ECS_TASKS
from batchmap.setup.spec import (
    INSTANCE_ROLE,
    PASS_ROLE_POLICY_NAME,
    SERVICE_ROLE,
    Desired,
    trust,
)


def _logical(prefix: str, name: str) -> str:
    return prefix + "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _managed(policy: str) -> dict[str, Any]:
    return {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/" + policy}


def template(want: Desired) -> dict[str, Any]:
    """The same resources as ``Provisioner.plan``, declared for CloudFormation."""
    resources: dict[str, Any] = {}
    if want.service_role:
        service_role: Any = want.service_role
    else:
        resources["BatchServiceRole"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": SERVICE_ROLE,
                "AssumeRolePolicyDocument": trust("batch.amazonaws.com"),
                "ManagedPolicyArns": [_managed("service-role/AWSBatchServiceRole")],
            },
        }
        service_role = {"Fn::GetAtt": ["BatchServiceRole", "Arn"]}
    instance_profile: Any = want.instance_role
    if want.ec2 and not want.instance_role:
        resources["InstanceRole"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": INSTANCE_ROLE,
                "AssumeRolePolicyDocument": trust("ec2.amazonaws.com"),
                "ManagedPolicyArns": [_managed("service-role/AmazonEC2ContainerServiceforEC2Role")],
            },
        }
        resources["InstanceProfile"] = {
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": {
                "InstanceProfileName": INSTANCE_ROLE,
                "Roles": [{"Ref": "InstanceRole"}],
            },
        }
        instance_profile = {"Fn::GetAtt": ["InstanceProfile", "Arn"]}
    user: dict[str, Any] = {
        "RoleName": want.user_role,
        "AssumeRolePolicyDocument": trust(ECS_TASKS),
    }
    if want.managed_policies:
        user["ManagedPolicyArns"] = want.managed_policies
    resources["UserRole"] = {"Type": "AWS::IAM::Role", "Properties": user}
    if want.pass_principal:
        kind, _, name = want.pass_principal.split(":", 5)[5].partition("/")
        resources["PassRolePolicy"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": PASS_ROLE_POLICY_NAME,
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "iam:PassRole",
                            "Resource": {"Fn::GetAtt": ["UserRole", "Arn"]},
                            "Condition": {
                                "StringEquals": {"iam:PassedToService": "batch.amazonaws.com"}
                            },
                        }
                    ],
                },
                ("Roles" if kind == "role" else "Users"): [name.rsplit("/", 1)[-1]],
            },
        }
    if want.bucket:
        resources["Bucket"] = {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": want.bucket,
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
        }
    resources["LogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": want.log_group},
    }
    c = want.compute
    # The API's computeResources, in CloudFormation's PascalCase: one source for both.
    compute = {
        key[0].upper() + key[1:]: value
        for key, value in want.compute_resources(instance_profile).items()
    }
    resources["ComputeEnvironment"] = {
        "Type": "AWS::Batch::ComputeEnvironment",
        "Properties": {
            "ComputeEnvironmentName": c["name"],
            "Type": "MANAGED",
            "State": "ENABLED",
            "ServiceRole": service_role,
            "ComputeResources": compute,
        },
    }
    for queue in want.queues:
        resources[_logical("Queue", queue)] = {
            "Type": "AWS::Batch::JobQueue",
            "Properties": {
                "JobQueueName": queue,
                "Priority": 1,
                "State": "ENABLED",
                "ComputeEnvironmentOrder": [
                    {"Order": 1, "ComputeEnvironment": {"Ref": "ComputeEnvironment"}}
                ],
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "AWS Batch for batchmap (Flyte's 'AWS Batch Setup for Map Tasks'), "
        "generated by batchmap setup -o cloudformation",
        "Resources": resources,
        "Outputs": {
            "UserRoleArn": {
                "Value": {"Fn::GetAtt": ["UserRole", "Arn"]},
                "Description": "iamRoleARN for exec files",
            }
        },
    }
