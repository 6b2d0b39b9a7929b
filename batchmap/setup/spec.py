"""What `batchmap setup` should create, derived from the config (no AWS calls).

Shared by the provisioner (``batchmap/provision.py``) and the CloudFormation
template (``batchmap/provision_cfn.py``), so both describe the same resources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from batchmap.aws.clients import partition_for
from batchmap.config.loader import Config
from batchmap.errors import BatchmapError, InvalidInputError
from batchmap.files.store import parse_s3_uri

PASS_ROLE_POLICY_NAME = "batchmap-pass-role"
SERVICE_ROLE = "batchmap-batch-service"
INSTANCE_ROLE = "batchmap-ecs-instance"


def trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


@dataclass
class Desired:
    """What the account should hold, derived from the config."""

    partition: str
    account: str
    region: str
    compute: dict[str, Any]
    queues: list[str]
    user_role: str
    managed_policies: list[str]
    pass_principal: str | None
    bucket: str | None
    log_group: str
    service_role: str | None  # an ARN given in the config, else batchmap's own role
    instance_role: str | None  # an instance profile given, else batchmap's own (EC2/SPOT)

    @property
    def ec2(self) -> bool:
        return self.compute["type"] in ("EC2", "SPOT")

    def arn(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:{kind}/{name}"

    def compute_resources(self, instance_profile: str | None) -> dict[str, Any]:
        c = self.compute
        resources: dict[str, Any] = {
            "type": c["type"],
            "maxvCpus": c["maxvCpus"],
            "subnets": c["subnets"],
            "securityGroupIds": c["securityGroups"],
        }
        if self.ec2:
            resources.update(
                minvCpus=c["minvCpus"],
                instanceTypes=c["instanceTypes"],
                allocationStrategy=c["allocationStrategy"],
                instanceRole=instance_profile,
            )
        return resources


def desired(config: Config, account: str, region: str) -> Desired:
    setup = config.setup
    if not setup:
        raise InvalidInputError(
            "the config has no setup: section",
            hint="see docs/setup.md for what batchmap setup needs",
        )
    compute = dict(setup.get("computeEnvironment") or {})
    kind = compute.get("type", "SPOT")
    missing = [k for k in ("subnets", "securityGroups") if not compute.get(k)]
    if missing:
        raise InvalidInputError(
            f"setup.computeEnvironment.{missing[0]} is required for a managed compute environment",
            hint="list the VPC subnets and security groups the instances should use",
        )
    compute.update(
        name=compute.get("name", "batchmap"),
        type=kind,
        minvCpus=compute.get("minvCpus", 0),
        maxvCpus=compute.get("maxvCpus", 256),
        instanceTypes=compute.get("instanceTypes", ["optimal"]),
        allocationStrategy=compute.get(
            "allocationStrategy",
            "SPOT_CAPACITY_OPTIMIZED" if kind == "SPOT" else "BEST_FIT_PROGRESSIVE",
        ),
    )
    bucket = setup.get("bucket") or (
        parse_s3_uri(config.storage)[0] if config.storage.startswith("s3://") else None
    )
    user = setup.get("userRole") or {}
    return Desired(
        partition=partition_for(region),
        account=account,
        region=region,
        compute=compute,
        queues=sorted(
            {q["dynamic"] for q in config.queues.get("executionQueues") or [] if q.get("dynamic")}
        ),
        user_role=user.get("name", "batchmap-task"),
        managed_policies=list(user.get("managedPolicies") or []),
        pass_principal=setup.get("passRolePrincipal"),
        bucket=bucket,
        log_group=config.log_group,
        service_role=compute.get("serviceRole"),
        instance_role=compute.get("instanceRole"),
    )


@dataclass
class Change:
    kind: str
    name: str
    action: str  # create | exists | differs, then created | updated | unchanged
    detail: str = ""
    run: Callable[[], None] | None = field(default=None, repr=False)
    fix: Callable[[], None] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.kind,
            "name": self.name,
            "action": self.action,
            "detail": self.detail,
        }


def code_of(exc: BatchmapError) -> str:
    cause = exc.__cause__
    return str(getattr(cause, "response", {}).get("Error", {}).get("Code", ""))
