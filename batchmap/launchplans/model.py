"""Launch plans: what a user runs — typed inputs, the map, and the task container.

The model only; ``launchplans.parse`` reads launch plan files and flytekit packages
into it, ``launchplans.checks`` holds the rules they must follow.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchmap.launchplans.inputs import InputType, coerce, parse_type
from batchmap.times import parse_duration

DEFAULT_VCPU = 1.0
DEFAULT_MEMORY_MIB = 2048
MAX_MEMORY_MIB = 2**31 - 1  # AWS Batch's memory is a 32-bit integer of MiB
PLACEHOLDER = re.compile(r"\{\{\s*(?P<expr>[^{}]*?)\s*\}\}")


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: InputType
    default: Any = None
    has_default: bool = False
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(self.type)}
        if self.has_default:
            out["default"] = self.default
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class MapSpec:
    over: tuple[str, ...]
    min_success_ratio: float = 1.0
    concurrency: int | None = None
    min_successes: int | None = None  # Flyte's min_successes: a count, not a ratio

    def required(self, size: int) -> int:
        """How many of ``size`` children must succeed (Propeller's rule for either form)."""
        if self.min_successes is not None:
            return self.min_successes
        # ceil(ratio × size), robust to float noise (0.9 × 10 = 9)
        return math.ceil(self.min_success_ratio * size - 1e-9)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"over": list(self.over)}
        if self.min_successes is not None:
            out["minSuccesses"] = self.min_successes
        else:
            out["minSuccessRatio"] = self.min_success_ratio
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency
        return out


@dataclass(frozen=True)
class TaskSpec:
    image: str
    command: tuple[str, ...]
    vcpu: float = DEFAULT_VCPU
    memory_mib: int = DEFAULT_MEMORY_MIB
    gpu: int = 0
    retries: int = 0
    timeout_seconds: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    platform: str = "EC2"
    execution_role_arn: str | None = None
    interruptible: bool = False
    runtime: str = "python3"  # how the child runs: python3 (inline) or the image's batchmap-task

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.image,
            "command": list(self.command),
            "vcpu": self.vcpu,
            "memory": self.memory_mib,
            "gpu": self.gpu,
            "retries": self.retries,
        }
        if self.timeout_seconds is not None:
            out["timeout"] = self.timeout_seconds
        out["env"] = dict(self.env)
        out["secrets"] = dict(self.secrets)
        out["platform"] = self.platform
        if self.execution_role_arn:
            out["executionRoleArn"] = self.execution_role_arn
        if self.interruptible:
            out["interruptible"] = True
        if self.runtime != "python3":  # the default stays out: registered specs compare equal
            out["runtime"] = self.runtime
        return out


@dataclass(frozen=True)
class LaunchPlan:
    project: str
    domain: str
    name: str
    version: str
    workflow: str
    inputs: Mapping[str, InputSpec]
    map: MapSpec
    task: TaskSpec
    description: str | None = None
    iam_role_arn: str | None = None
    created_at: dt.datetime | None = None
    flyte: Mapping[str, Any] | None = None  # a flytekit map task (batchmap/flyte)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.project, self.domain, self.name, self.version)

    def ref(self) -> dict[str, str]:
        """How executions name the launch plan they ran."""
        return {
            "name": self.name,
            "version": self.version,
            "project": self.project,
            "domain": self.domain,
        }

    def spec_dict(self) -> dict[str, Any]:
        """The launch plan in its file format (normalised); registered versions compare this."""
        out: dict[str, Any] = {
            "project": self.project,
            "domain": self.domain,
            "name": self.name,
            "version": self.version,
            "workflow": self.workflow,
        }
        if self.description:
            out["description"] = self.description
        if self.iam_role_arn:
            out["iamRoleARN"] = self.iam_role_arn
        out["inputs"] = {name: spec.to_dict() for name, spec in self.inputs.items()}
        out["map"] = self.map.to_dict()
        out["task"] = self.task.to_dict()
        if self.flyte:
            out["flyte"] = dict(self.flyte)
        return out

    def to_dict(self) -> dict[str, Any]:
        out = self.spec_dict()
        out["createdAt"] = self.created_at
        return out

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, Any], created_at: dt.datetime | None = None
    ) -> LaunchPlan:
        """Build from a normalised spec (as stored by the registry)."""
        return build(spec, created_at)


def parse_memory(value: float | str) -> int:
    """MiB from ``2048``, ``2048.0``, ``"512Mi"``, ``"4Gi"`` (G/GB/GiB count as GiB)."""
    if isinstance(value, bool):
        raise ValueError(f"not a memory size: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):  # YAML's 2048.0: whole MiB only
        if not value.is_integer():
            raise ValueError(f"not a whole number of MiB: {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"not a memory size: {value!r}")
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*(Mi|Gi|MiB|GiB|M|G|MB|GB)?", value.strip())
    if not match:
        raise ValueError(f"not a memory size: {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "Mi")
    mib = number * 1024 if unit.startswith("G") else number
    if not mib <= MAX_MEMORY_MIB:  # also inf, from a 400-digit number
        raise ValueError(f"{value!r} is more memory than AWS Batch can ask for")
    return int(mib)


def item_type(lp_inputs: Mapping[str, InputSpec], over: Sequence[str]) -> InputType | None:
    """The type of ``{{ item }}``: the mapped list's item type, or None (a mapping) for several."""
    if len(over) == 1 and over[0] in lp_inputs:
        return lp_inputs[over[0]].type.item
    return None


def build(spec: Mapping[str, Any], created_at: dt.datetime | None) -> LaunchPlan:
    inputs = {}
    for name, raw in (spec.get("inputs") or {}).items():
        t = parse_type(raw["type"])
        has_default = "default" in raw
        inputs[name] = InputSpec(
            name,
            t,
            coerce(t, raw["default"]) if has_default else None,
            has_default,
            raw.get("description"),
        )
    m = spec["map"]
    t = spec["task"]
    timeout = t.get("timeout")
    return LaunchPlan(
        project=spec["project"],
        domain=spec["domain"],
        name=spec["name"],
        version=str(spec["version"]),
        workflow=spec.get("workflow") or spec["name"],
        description=spec.get("description"),
        iam_role_arn=spec.get("iamRoleARN") or None,
        inputs=inputs,
        map=MapSpec(
            over=tuple(m["over"]),
            min_success_ratio=float(m.get("minSuccessRatio", 1.0)),
            concurrency=m.get("concurrency"),
            min_successes=m.get("minSuccesses"),
        ),
        task=TaskSpec(
            image=t["image"],
            command=tuple(t["command"]),
            vcpu=float(t.get("vcpu", DEFAULT_VCPU)),
            memory_mib=parse_memory(t.get("memory", DEFAULT_MEMORY_MIB)),
            gpu=int(t.get("gpu", 0)),
            retries=int(t.get("retries", 0)),
            timeout_seconds=parse_duration(timeout) if timeout is not None else None,
            env=dict(t.get("env") or {}),
            secrets=dict(t.get("secrets") or {}),
            platform=t.get("platform", "EC2"),
            execution_role_arn=t.get("executionRoleArn") or None,
            interruptible=bool(t.get("interruptible", False)),
            runtime=t.get("runtime", "python3"),
        ),
        created_at=created_at,
        flyte=spec.get("flyte") or None,
    )


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def spec_differences(old: Mapping[str, Any], new: Mapping[str, Any], path: str = "") -> list[str]:
    """Field paths where two specs differ, each as ``path: old → new``."""
    out: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        here = f"{path}.{key}" if path else str(key)
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += spec_differences(a, b, here)
        elif canonical_json(a) != canonical_json(b):
            out.append(f"{here}: {json.dumps(a, default=str)} → {json.dumps(b, default=str)}")
    return out
