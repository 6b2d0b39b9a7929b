"""Exec files: flytectl's execution spec, written from a launch plan and read back.

``render`` writes exactly flytectl's keys in flytectl's order (``iamRoleARN``,
``inputs``, ``envs``, ``kubeServiceAcct``, ``targetDomain``, ``targetProject``,
``version``, ``workflow``), 4-space indented as flytectl's yaml.v3 does, each
input's description as an end-of-line comment and — unlike flytectl — inputs
without a default marked ``# required``. ``load`` reads it back (any file
flytectl wrote loads) and ``resolve_inputs`` checks it against the launch
plan; both run before any AWS call and report every problem at once.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchmap.aws.iam import role_arn_problem, service_account_problem
from batchmap.aws.limits import env_name_violations
from batchmap.errors import InvalidInputError, Problem
from batchmap.files.atomic import atomic_write_text
from batchmap.files.schemas import did_you_mean, schema_problems
from batchmap.files.yamldoc import YamlDocument, load_file
from batchmap.launchplans.inputs import check_value, coerce, zero_value
from batchmap.launchplans.model import LaunchPlan
from batchmap.runtime.oslimits import string_problem

KEY_ORDER = (
    "iamRoleARN",
    "inputs",
    "envs",
    "kubeServiceAcct",
    "targetDomain",
    "targetProject",
    "version",
    "workflow",
)
# flytectl's create-execution keys that batchmap has no use for.
FLYTECTL_ONLY = (
    "targetExecutionCluster",
    "clusterPool",
    "overwriteCache",
    "dryRun",
    "relaunch",
    "recover",
    "execFile",
)
# Plain scalars YAML would read back as something other than a string.
_LOOKS_TYPED = re.compile(
    r"^(true|false|yes|no|on|off|null|~|[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
    r"|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|nan)|\d{4}-\d\d-\d\d.*)$",
    re.IGNORECASE,
)
ROLE_COMMENT = "required on AWS Batch: the IAM role ARN the children run as"
SA_COMMENT = "optional: Kubernetes service account (EKS compute environments only)"


def _commented(value: Any, depth: int = 0) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, dict):
        cm = CommentedMap()
        for k, v in value.items():
            cm[k] = _commented(v, depth + 1)
        return cm
    if isinstance(value, list):
        seq = CommentedSeq([_commented(v, depth + 1) for v in value])
        if depth > 0:
            seq.fa.set_flow_style()  # nested lists read better as [0]
        return seq
    if isinstance(value, str) and (value == "" or _LOOKS_TYPED.match(value)):
        return DoubleQuotedScalarString(value)  # "" and "1.0" stay strings, as in flytectl
    return value


def render(plan: LaunchPlan) -> str:
    """The exec file for ``plan`` (flytectl's format, with batchmap's comments)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    root = CommentedMap()
    root["iamRoleARN"] = _commented(plan.iam_role_arn or "")
    if not plan.iam_role_arn:
        root.yaml_add_eol_comment(ROLE_COMMENT, "iamRoleARN")
    inputs = CommentedMap()
    for name, spec in plan.inputs.items():
        value = spec.default if spec.has_default else zero_value(spec.type)
        inputs[name] = _commented(value)
        words = [] if spec.has_default else ["required"]
        if spec.description and spec.description != name:
            words.append(" ".join(spec.description.split()))
        if words:
            inputs.yaml_add_eol_comment(": ".join(words) if len(words) == 2 else words[0], name)
    root["inputs"] = inputs
    root["envs"] = CommentedMap()
    root["kubeServiceAcct"] = _commented("")
    root.yaml_add_eol_comment(SA_COMMENT, "kubeServiceAcct")
    root["targetDomain"] = _commented("")
    root["targetProject"] = _commented("")
    root["version"] = _commented(plan.version)
    root["workflow"] = _commented(plan.name)
    yaml = YAML()
    yaml.indent(mapping=4, sequence=6, offset=4)
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(root, stream)
    return stream.getvalue()


def write(path: Path, text: str, *, force: bool) -> None:
    """Write an exec file (mode 0600, like flytectl); never overwrite without ``force``."""
    from batchmap.files.safe import write_target

    target = write_target(path)  # never replaces a device, a FIFO or a directory
    if path.exists() and not force:
        raise InvalidInputError(f"{path} already exists", hint="pass --force to overwrite it")
    atomic_write_text(target, text, mode=0o600)


@dataclass
class ExecFile:
    """An exec file as written by the user (checked for shape, not yet for the launch plan)."""

    path: str
    doc: YamlDocument
    iam_role_arn: str | None = None
    kube_service_account: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)
    target_project: str | None = None
    target_domain: str | None = None
    version: str | None = None
    workflow: str | None = None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def load(path: Path) -> ExecFile:
    """Read and shape-check an exec file; every problem at once, with lines."""
    doc = load_file(path)
    if not isinstance(doc.data, dict):
        raise InvalidInputError.from_problems(
            [doc.problem([], "expected an exec file (a mapping of iamRoleARN, inputs, ...)")],
            f"{path}: invalid exec file",
        )
    problems = []
    for p in schema_problems(doc, "execfile"):
        key = p.path.split(".")[0].split("[")[0]
        if p.message.startswith("unknown key") and key in FLYTECTL_ONLY:
            p = Problem(
                p.message,
                p.file,
                p.path,
                p.line,
                hint="flytectl ignores it here too; batchmap has no use for it: remove it",
            )
        elif p.message.startswith("unknown key"):
            p = Problem(
                p.message,
                p.file,
                p.path,
                p.line,
                hint=(p.hint + "; " if p.hint and "did you mean" in p.hint else "")
                + "flytectl would silently ignore it; batchmap refuses it",
            )
        problems.append(p)
    data = doc.data
    if data.get("task"):
        problems.append(
            doc.problem(
                ["task"],
                "batchmap runs launch plans, not single tasks",
                hint="write the file with 'batchmap get launchplan NAME --execFile FILE'",
            )
        )
    elif not data.get("workflow"):
        problems.append(
            doc.problem(
                ["workflow"] if "workflow" in data else [],
                "missing workflow: the launch plan to run",
            )
        )
    role = _text(data.get("iamRoleARN"))
    if role and isinstance(data.get("iamRoleARN"), str):
        problem = role_arn_problem(role)
        if problem:
            problems.append(doc.problem(["iamRoleARN"], problem))
    account = _text(data.get("kubeServiceAcct"))
    if account and isinstance(data.get("kubeServiceAcct"), str):
        problem = service_account_problem(account)
        if problem:
            problems.append(doc.problem(["kubeServiceAcct"], problem))
    envs = data.get("envs") or {}
    if isinstance(envs, dict):
        for name, value in envs.items():
            for v in env_name_violations(str(name), ("envs", name)):
                problems.append(doc.problem(list(v.path), v.message, hint=v.fix))
            why = string_problem(f"{name}={value}", "an environment variable")
            if why:
                problems.append(doc.problem(["envs", name], why))
    if any(not p.warning for p in problems):
        raise InvalidInputError.from_problems(problems, f"{path}: invalid exec file")
    return ExecFile(
        path=str(path),
        doc=doc,
        iam_role_arn=role,
        kube_service_account=account,
        inputs=dict(data.get("inputs") or {}),
        envs={
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (envs or {}).items()
        },
        target_project=_text(data.get("targetProject")),
        target_domain=_text(data.get("targetDomain")),
        version=_text(data.get("version")),
        workflow=_text(data.get("workflow")),
    )


def resolve_inputs(ef: ExecFile, plan: LaunchPlan) -> dict[str, Any]:
    """The execution's inputs: the file's values checked against the launch plan's types,
    defaults filled in, mapped lists non-empty and of equal length."""
    doc = ef.doc
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, value in ef.inputs.items():
        if name not in plan.inputs:
            problems.append(
                doc.problem(
                    ["inputs", name],
                    f"unknown input {name!r} of launch plan {plan.name}",
                    hint=did_you_mean(name, list(plan.inputs))
                    or f"its inputs: {', '.join(plan.inputs) or 'none'}",
                )
            )
            continue
        spec = plan.inputs[name]
        found = list(check_value(spec.type, value))
        for vp in found[:20]:
            problems.append(doc.problem(["inputs", name, *vp.path], vp.message))
        if len(found) > 20:
            problems.append(
                doc.problem(["inputs", name], f"and {len(found) - 20} more wrong items")
            )
        if not found:
            values[name] = coerce(spec.type, value)
    for name, spec in plan.inputs.items():
        if name in values or name in ef.inputs:
            continue
        if spec.has_default:
            values[name] = spec.default
        else:
            problems.append(
                doc.problem(
                    ["inputs"],
                    f"missing required input {name!r} ({spec.type})",
                )
            )
    problems += _map_problems(doc, plan, values)
    if problems:
        raise InvalidInputError.from_problems(
            problems, f"{ef.path}: inputs do not fit launch plan {plan.name} {plan.version}"
        )
    return values


def _map_problems(doc: YamlDocument, plan: LaunchPlan, values: Mapping[str, Any]) -> list[Problem]:
    problems = []
    first: tuple[str, int] | None = None
    for name in plan.map.over:
        if name not in values:
            continue
        size = len(values[name])
        where = ["inputs", name] if name in (doc.data.get("inputs") or {}) else ["inputs"]
        if size == 0:
            problems.append(doc.problem(where, f"mapped list {name!r} is empty: nothing to run"))
        elif first is None:
            first = (name, size)
        elif size != first[1]:
            problems.append(
                doc.problem(
                    where,
                    f"mapped lists must have equal length: {name!r} has {size} items, "
                    f"{first[0]!r} has {first[1]}",
                )
            )
    return problems


def map_size(plan: LaunchPlan, values: Mapping[str, Any]) -> int:
    return len(values[plan.map.over[0]])
