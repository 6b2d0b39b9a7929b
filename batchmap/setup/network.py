"""The compute environment's network when the config names none: the default VPC's.

As the AWS Batch console does: the region's default VPC (``isDefault``), its
default subnets (one per Availability Zone, ``defaultForAz``; they give
instances public addresses, so they reach ECR and ECS without a NAT), and its
security group named ``default``. Subnets given without security groups get
their VPC's ``default`` group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchmap.aws.clients import aws_call
from batchmap.errors import InvalidInputError

_KEYS = "setup.computeEnvironment.subnets and setup.computeEnvironment.securityGroups"


@dataclass(frozen=True)
class Network:
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    source: str  # where they came from, for the plan's notes


def _default_group(ec2: Any, vpc: str, region: str) -> str:
    with aws_call("ec2:DescribeSecurityGroups"):
        groups = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
    if not groups:
        raise InvalidInputError(
            f"VPC {vpc} in {region} has no security group named default: "
            f"set setup.computeEnvironment.securityGroups"
        )
    return str(groups[0]["GroupId"])


def resolve_network(
    ec2: Any, region: str, subnets: Sequence[str] | None, groups: Sequence[str] | None
) -> Network:
    """The subnets and security groups to use: the config's, completed from AWS."""
    if subnets and groups:
        return Network(tuple(subnets), tuple(groups), "the config")
    if subnets:
        with aws_call("ec2:DescribeSubnets"):
            found = ec2.describe_subnets(SubnetIds=[subnets[0]])["Subnets"]
        vpc = found[0]["VpcId"]
        return Network(
            tuple(subnets),
            (_default_group(ec2, vpc, region),),
            f"the config; security group: {vpc}'s default",
        )
    with aws_call("ec2:DescribeVpcs"):
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise InvalidInputError(f"the account has no default VPC in {region}: set {_KEYS}")
    vpc = vpcs[0]["VpcId"]
    with aws_call("ec2:DescribeSubnets"):
        pages = ec2.get_paginator("describe_subnets").paginate(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "default-for-az", "Values": ["true"]},
            ]
        )
        default_subnets = sorted(
            (s["AvailabilityZone"], s["SubnetId"]) for page in pages for s in page["Subnets"]
        )
    if not default_subnets:
        raise InvalidInputError(
            f"the default VPC {vpc} in {region} has no default subnets: set {_KEYS}"
        )
    return Network(
        tuple(s for _, s in default_subnets),
        tuple(groups) if groups else (_default_group(ec2, vpc, region),),
        f"the default VPC {vpc}",
    )
