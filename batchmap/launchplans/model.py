"""Launch plans: what a user runs — typed inputs, the map, and the task container.

A launch plan file is YAML (``batchmap/schemas/launchplan.schema.json``);
several launch plans may share one file as YAML documents. ``parse_files``
validates every document of every file and reports all problems at once,
each with its file, line and field path, before anything is registered.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchmap.errors import InvalidInputError, Problem
from batchmap.files.schemas import schema_problems
from batchmap.files.yamldoc import YamlDocument, load_documents, read_text
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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"over": list(self.over), "minSuccessRatio": self.min_success_ratio}
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
        return _build(spec, created_at)


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


def _build(spec: Mapping[str, Any], created_at: dt.datetime | None) -> LaunchPlan:
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
        ),
        created_at=created_at,
        flyte=spec.get("flyte") or None,
    )


@dataclass(frozen=True)
class Overrides:
    project: str | None = None
    domain: str | None = None
    version: str | None = None


def parse_document(
    doc: YamlDocument, overrides: Overrides
) -> tuple[LaunchPlan | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem([], "expected a launch plan (a mapping) in this document")]
    problems = schema_problems(doc, "launchplan")
    data = dict(data)
    for key, flag in (("project", "-p"), ("domain", "-d"), ("version", "--version")):
        value = getattr(overrides, key)
        if value:
            data[key] = value
        elif not data.get(key):
            problems.append(doc.problem([], f"missing {key}: set it in the file or pass {flag}"))
    if problems:
        return None, problems
    from batchmap.launchplans.checks import semantic_problems

    problems = semantic_problems(doc, data)
    if problems:
        return None, problems
    return _build(data, None), []


def parse_files(paths: Sequence[Path], overrides: Overrides = Overrides()) -> list[LaunchPlan]:
    """Every launch plan of every file; all problems of all files in one error."""
    return parse_all(paths, overrides)[0]


def _flyte_documents(
    paths: Sequence[Path], overrides: Overrides
) -> tuple[list[YamlDocument], list[tuple[str, str]]]:
    """``pyflyte package`` output as launch-plan documents, and what could not be used."""
    if not paths:
        return [], []
    from batchmap.flyte.package import launch_plans

    specs, skipped = launch_plans(
        list(paths), overrides.project, overrides.domain, overrides.version
    )
    return [
        YamlDocument(f"{', '.join(map(str, paths))} ({spec['name']})", spec) for spec in specs
    ], skipped


def parse_all(
    paths: Sequence[Path], overrides: Overrides = Overrides()
) -> tuple[list[LaunchPlan], list[tuple[str, str]]]:
    """(launch plans, [(Flyte launch plan, why batchmap cannot run it)]) of YAML files and
    flytekit packages; every problem of every file in one error, before anything else."""
    from batchmap.flyte.package import is_flyte_file

    plans: list[LaunchPlan] = []
    problems: list[Problem] = []
    origin: dict[tuple[str, str, str, str], str] = {}
    flyte_docs, skipped = _flyte_documents([p for p in paths if is_flyte_file(p)], overrides)
    groups: list[list[YamlDocument]] = [flyte_docs] if flyte_docs else []
    for path in paths:
        if is_flyte_file(path):
            continue
        docs = load_documents(read_text(path), str(path))
        docs = [d for d in docs if d.data is not None]
        if not docs:
            problems.append(Problem("holds no launch plan", file=str(path)))
        for doc in docs:
            if isinstance(doc.data, dict) and "flyte" in doc.data:
                problems.append(
                    doc.problem(
                        ["flyte"],
                        "is written by batchmap when it registers a flytekit package; "
                        "a launch plan file cannot set it",
                        hint="register the `pyflyte package` output (.tgz or .pb files) instead",
                    )
                )
        groups.append(docs)
    for docs in groups:
        for doc in docs:
            plan, found = parse_document(doc, overrides)
            problems += found
            if plan is None:
                continue
            where = f"{doc.source}:{doc.first_line}"
            if plan.key in origin:
                problems.append(
                    doc.problem(
                        [],
                        f"launch plan {'/'.join(plan.key)} is also defined at {origin[plan.key]}",
                    )
                )
                continue
            origin[plan.key] = where
            plans.append(plan)
    if problems:
        raise InvalidInputError.from_problems(problems, "invalid launch plans, nothing registered")
    return plans, skipped


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
