"""The CloudFormation side of the description: ``setup -o cloudformation``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchmap.config.loader import Config
from batchmap.setup.model import GetAtt, Ref, Stack, Sub


def to_cfn(value: Any) -> Any:
    """A description value in CloudFormation's JSON form."""
    if isinstance(value, Ref):
        return {"Ref": value.target}
    if isinstance(value, GetAtt):
        return {"Fn::GetAtt": [value.target, value.attribute]}
    if isinstance(value, Sub):
        return {"Fn::Sub": value.template} if "${" in value.template else value.template
    if isinstance(value, Mapping):
        return {k: to_cfn(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_cfn(v) for v in value]
    return value


def template(stack: Stack) -> dict[str, Any]:
    """The stack as a CloudFormation template."""
    body: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": stack.description,
    }
    if stack.parameters:
        body["Parameters"] = {
            p.logical_id: {"Type": p.type, "Description": p.description} for p in stack.parameters
        }
    resources: dict[str, Any] = {}
    for r in stack.resources:
        entry: dict[str, Any] = {"Type": r.type, "Properties": to_cfn(r.properties)}
        if r.depends_on:
            entry["DependsOn"] = list(r.depends_on)
        resources[r.logical_id] = entry
    body["Resources"] = resources
    if stack.outputs:
        body["Outputs"] = {
            o.logical_id: {"Value": to_cfn(o.value), "Description": o.description}
            for o in stack.outputs
        }
    return body


def cloudformation(config: Config) -> dict[str, Any]:
    """`setup -o cloudformation`: the config's resources as a template (no AWS call)."""
    from batchmap.setup.describe import describe

    return template(describe(config))
