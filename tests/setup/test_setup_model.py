"""The one description of setup's resources: order, references, and both derivations
(CloudFormation's intrinsics, and values for the API calls)."""

from __future__ import annotations

import graphlib
from pathlib import Path

import pytest

from batchmap.config.loader import Overrides
from batchmap.config.loader import resolve as resolve_config
from batchmap.setup.cfn import template, to_cfn
from batchmap.setup.describe import describe
from batchmap.setup.model import Context, GetAtt, Ref, Resource, Stack, Sub, resolve
from tests.conftest import write


def _resource(logical_id: str, **properties: object) -> Resource:
    return Resource(logical_id, "AWS::Test::Thing", logical_id.lower(), properties)


def test_each_resource_comes_after_what_it_refers_to_else_in_declaration_order() -> None:
    stack = Stack(
        "t",
        (
            _resource("Queue", Env=Ref("Env")),
            _resource("Role"),
            _resource("Env", Role=GetAtt("Role", "Arn"), Subnets=Ref("Subnets")),
            _resource("Bucket"),
        ),
    )
    assert [r.logical_id for r in stack.ordered()] == ["Role", "Env", "Queue", "Bucket"]


def test_a_cycle_is_refused() -> None:
    stack = Stack("t", (_resource("A", b=Ref("B")), _resource("B", a=Ref("A"))))
    with pytest.raises(graphlib.CycleError):
        stack.ordered()


def test_references_render_as_cloudformation_intrinsics_and_resolve_to_values() -> None:
    value = {
        "Role": GetAtt("UserRole", "Arn"),
        "Roles": [Ref("UserRole")],
        "Subnets": Ref("Subnets"),
        "Policy": Sub("arn:${AWS::Partition}:iam::aws:policy/X"),
        "Plain": Sub("no-variables"),
        "Count": 2,
    }
    assert to_cfn(value) == {
        "Role": {"Fn::GetAtt": ["UserRole", "Arn"]},
        "Roles": [{"Ref": "UserRole"}],
        "Subnets": {"Ref": "Subnets"},
        "Policy": {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/X"},
        "Plain": "no-variables",
        "Count": 2,
    }
    ctx = Context(
        "aws-cn",
        "123456789012",
        "cn-north-1",
        parameters={"Subnets": ("subnet-0abc1234",)},
        attributes={"UserRole": {"Ref": "task", "Arn": "arn:aws-cn:iam::123456789012:role/task"}},
    )
    assert resolve(value, ctx) == {
        "Role": "arn:aws-cn:iam::123456789012:role/task",
        "Roles": ["task"],
        "Subnets": ["subnet-0abc1234"],
        "Policy": "arn:aws-cn:iam::aws:policy/X",
        "Plain": "no-variables",
        "Count": 2,
    }


@pytest.mark.usefixtures("isolated")
def test_one_description_gives_the_template_and_every_reference_in_it_exists() -> None:
    write(
        Path("batchmap.yaml"),
        "backend: aws\nstorage: s3://b-1/store\n"
        "queues:\n  executionQueues:\n    - dynamic: q-1\n      attributes: [default]\n"
        "setup:\n  computeEnvironment:\n    type: FARGATE\n",
    )
    config = resolve_config(Overrides(), {}, Path.cwd(), Path.cwd())
    stack = describe(config)
    body = template(stack)
    assert set(body["Parameters"]) == {"Subnets", "SecurityGroupIds"}
    # Fargate: no instance role, profile or EC2-only compute resources.
    assert "InstanceProfile" not in body["Resources"]
    compute = body["Resources"]["ComputeEnvironment"]["Properties"]["ComputeResources"]
    assert set(compute) == {"Type", "MaxvCpus", "Subnets", "SecurityGroupIds"}
    known = set(body["Resources"]) | set(body["Parameters"])
    refs = [r for resource in stack.resources for r in resource.references()]
    assert refs and set(refs) <= known
