"""One description of `batchmap setup`'s resources, in CloudFormation's terms.

A :class:`Stack` holds each resource's type, name, properties and dependencies,
written once with CloudFormation's property names. Everything else is derived
from it: the template of ``setup -o cloudformation`` (``cfn.template``), and the
API calls ``setup`` makes (each type's driver in ``drivers`` reads, creates and
updates the resource from the same properties, resolved by :func:`resolve`).

References between resources are values, not strings: ``Ref("UserRole")`` and
``GetAtt("UserRole", "Arn")`` render as CloudFormation's intrinsics, and resolve
to what CloudFormation would return (a role's name, a compute environment's ARN)
when ``setup`` makes the calls itself. ``Sub`` stands for ``Fn::Sub`` over the
pseudo parameters (``${AWS::Partition}``, ``${AWS::AccountId}``, ``${AWS::Region}``).
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """CloudFormation's ``Ref``: a resource's primary value, or a parameter's value."""

    target: str


@dataclass(frozen=True)
class GetAtt:
    """CloudFormation's ``Fn::GetAtt``: one attribute of a resource (``Arn``)."""

    target: str
    attribute: str


@dataclass(frozen=True)
class Sub:
    """CloudFormation's ``Fn::Sub`` over the pseudo parameters only."""

    template: str


@dataclass(frozen=True)
class Parameter:
    """A template parameter: a value the deployer gives (``setup`` finds it itself)."""

    logical_id: str
    type: str
    description: str


@dataclass(frozen=True)
class Resource:
    """One resource: its CloudFormation type and properties, and what it needs first."""

    logical_id: str
    type: str
    label: str  # what `setup` calls it in its table ("job queue")
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()  # besides the resources its properties refer to

    def references(self) -> set[str]:
        return {r for r in _targets(self.properties)} | set(self.depends_on)


@dataclass(frozen=True)
class Output:
    logical_id: str
    value: Any
    description: str


@dataclass(frozen=True)
class Stack:
    description: str
    resources: tuple[Resource, ...]
    parameters: tuple[Parameter, ...] = ()
    outputs: tuple[Output, ...] = ()

    def ordered(self) -> list[Resource]:
        """The resources in declaration order, except that each comes after those it needs."""
        ids = {r.logical_id for r in self.resources}
        needs = {r.logical_id: r.references() & ids for r in self.resources}
        graphlib.TopologicalSorter(needs).prepare()  # raises CycleError on a cycle
        order: list[Resource] = []
        done: set[str] = set()
        while len(order) < len(self.resources):
            ready = next(
                r
                for r in self.resources
                if r.logical_id not in done and needs[r.logical_id] <= done
            )
            order.append(ready)
            done.add(ready.logical_id)
        return order


def _targets(value: Any) -> Iterator[str]:
    if isinstance(value, Ref | GetAtt):
        yield value.target
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _targets(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _targets(v)


# -- the API side: references resolved to values ------------------------------------------
_PSEUDO = re.compile(r"\$\{(AWS::[A-Za-z]+)\}")


@dataclass
class Context:
    """What references resolve to when batchmap makes the calls itself."""

    partition: str
    account: str
    region: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Partition": self.partition,
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
        }
        return values[name]


def resolve(value: Any, ctx: Context) -> Any:
    """A description value with every reference replaced by its value in ``ctx``."""
    if isinstance(value, Ref):
        if value.target in ctx.parameters:
            return list(ctx.parameters[value.target])
        return ctx.attributes[value.target]["Ref"]
    if isinstance(value, GetAtt):
        return ctx.attributes[value.target][value.attribute]
    if isinstance(value, Sub):
        return _PSEUDO.sub(lambda m: ctx.pseudo(m.group(1)), value.template)
    if isinstance(value, Mapping):
        return {k: resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, ctx) for v in value]
    return value
