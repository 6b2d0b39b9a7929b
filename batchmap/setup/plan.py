"""`batchmap setup`: make an account hold what ``describe`` says, idempotently.

``plan`` reads the account (read-only calls: STS for the account, EC2 for the
default VPC when the config names no network, then each resource) and says per
resource: create, already there, or differs. ``apply`` creates what is missing
in dependency order and changes what differs only when asked (``update``). A
refusal midway stops it and the outcome says what was created and what was
not; a re-run reads the account again and finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchmap.aws.clients import ClientFactory, aws_call, partition_for
from batchmap.config.loader import Config
from batchmap.errors import BatchmapError
from batchmap.setup.batch import ComputeEnvironmentDriver, JobQueueDriver
from batchmap.setup.describe import SECURITY_GROUPS, SUBNETS, describe, given_network
from batchmap.setup.driver import Driver, Observed
from batchmap.setup.iam import InstanceProfileDriver, PolicyDriver, RoleDriver
from batchmap.setup.model import Context, Resource, Stack, resolve
from batchmap.setup.network import resolve_network
from batchmap.setup.storage import BucketDriver, LogGroupDriver

CREATE, EXISTS, DIFFERS = "create", "exists", "differs"
CREATED, UPDATED, FAILED, NOT_CREATED = "created", "updated", "failed", "not created"


_KINDS: dict[str, Any] = {
    "AWS::IAM::Role": RoleDriver,
    "AWS::IAM::InstanceProfile": InstanceProfileDriver,
    "AWS::IAM::Policy": PolicyDriver,
    "AWS::S3::Bucket": BucketDriver,
    "AWS::Logs::LogGroup": LogGroupDriver,
    "AWS::Batch::ComputeEnvironment": ComputeEnvironmentDriver,
    "AWS::Batch::JobQueue": JobQueueDriver,
}


class Drivers:
    """The driver of each resource type, built on first use (with only the clients it needs)."""

    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients
        self._made: dict[str, Driver] = {}

    def __getitem__(self, kind: str) -> Driver:
        if kind not in self._made:
            self._made[kind] = _KINDS[kind](self._clients)
        return self._made[kind]


@dataclass
class Change:
    """One resource and what setup does (or did) to it."""

    resource: Resource
    name: str
    action: str  # create | exists | differs, then created | updated | failed | not created
    detail: str = ""
    observed: Observed | None = field(default=None, repr=False)
    attributes: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def arn(self) -> str | None:
        """Its ARN (as AWS reports it, else as it will be), when it has one."""
        for value in (self.attributes.get("Arn"), self.attributes.get("Ref")):
            if value and value.startswith("arn:"):
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource.label,
            "name": self.name,
            "action": self.action,
            "detail": self.detail,
            "type": self.resource.type,
            "arn": self.arn,
        }


@dataclass
class Plan:
    """What setup would do in one account; ``apply`` carries it out."""

    stack: Stack
    context: Context
    changes: list[Change]
    notes: list[str] = field(default_factory=list)

    @property
    def user_role_arn(self) -> str:
        """The iamRoleARN of exec files: the role children run as."""
        return self.context.attributes["UserRole"]["Arn"]

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.changes)


@dataclass
class Outcome:
    """What ``apply`` did; ``error`` is the refusal that stopped it, if one did."""

    plan: Plan
    error: BatchmapError | None = None

    @property
    def created(self) -> list[Change]:
        return [c for c in self.plan.changes if c.action == CREATED]

    @property
    def not_done(self) -> list[Change]:
        return [c for c in self.plan.changes if c.action in (FAILED, NOT_CREATED)]


def identify(clients: ClientFactory) -> Context:
    """The caller's account, partition and region (one STS call)."""
    with aws_call("sts:GetCallerIdentity"):
        account = str(clients.client("sts").get_caller_identity()["Account"])
    region = clients.region_or_default
    return Context(partition_for(region), account, region)


def plan(clients: ClientFactory, config: Config) -> Plan:
    """Every resource of ``config`` and what setup would do to it (read-only calls)."""
    stack = describe(config)  # a config error stops it before any call
    ctx = identify(clients)
    notes = []
    if stack.parameters:  # the config names no network, or only part of one
        given = given_network(config)
        network = resolve_network(
            clients.client("ec2"), ctx.region, given.get(SUBNETS), given.get(SECURITY_GROUPS)
        )
        ctx.parameters = {SUBNETS: network.subnets, SECURITY_GROUPS: network.security_groups}
        notes.append(
            f"network from {network.source}: subnets {', '.join(network.subnets)}; "
            f"security groups {', '.join(network.security_groups)}"
        )
    if not any(r.type == "AWS::Batch::JobQueue" for r in stack.resources):
        notes.append("no queues.executionQueues in the config: no job queue to create")
    kinds = Drivers(clients)
    changes = []
    for resource in stack.ordered():
        driver = kinds[resource.type]
        props = resolve(resource.properties, ctx)
        attributes = ctx.attributes[resource.logical_id] = driver.expected(props, ctx)
        name = driver.name(props)
        observed = driver.read(props)
        if observed is None:
            change = Change(resource, name, CREATE, driver.summary(props))
        else:
            attributes.update(observed.attributes)
            if observed.differences:
                change = Change(resource, name, DIFFERS, "; ".join(observed.differences))
            else:
                change = Change(resource, name, EXISTS, observed.detail)
            change.observed = observed
        change.attributes = attributes
        changes.append(change)
    return Plan(stack, ctx, changes, notes)


def apply(clients: ClientFactory, plan: Plan, *, update: bool) -> Outcome:
    """Create what is missing, in order; change what differs only with ``update``.

    Stops at the first refusal: the outcome then holds the error, and each change
    says whether it was created, failed or not created.
    """
    kinds = Drivers(clients)
    ctx = plan.context
    for change in plan.changes:
        resource = change.resource
        driver = kinds[resource.type]
        wanted = change.action == CREATE or (change.action == DIFFERS and update)
        if not wanted:
            continue
        # Resolved again: what was just created is referred to by what AWS returned.
        props = resolve(resource.properties, ctx)
        try:
            if change.action == CREATE:
                ctx.attributes[resource.logical_id].update(driver.create(props))
                change.action = CREATED
            else:
                assert change.observed is not None
                driver.update(props, change.observed)
                change.action = UPDATED
        except BatchmapError as exc:
            change.action, change.detail = FAILED, exc.message
            for rest in plan.changes:
                if rest.action == CREATE:
                    rest.action = NOT_CREATED
            return Outcome(plan, exc)
    return Outcome(plan)


def setup(clients: ClientFactory, config: Config, *, dry_run: bool, update: bool) -> Outcome:
    """`batchmap setup`: the plan, then (unless ``dry_run``) its application."""
    planned = plan(clients, config)
    return Outcome(planned) if dry_run else apply(clients, planned, update=update)
