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

from batchmap.aws.arns import role_arn_problem, service_account_problem
from batchmap.aws.limits import env_name_violations
from batchmap.errors import InvalidInputError, Problem
from batchmap.executions import items
from batchmap.files import checked
from batchmap.files.atomic import write_user_file
from batchmap.files.schemas import did_you_mean, schema_problems
from batchmap.files.yamldoc import YamlDocument, load_file
from batchmap.launchplans.inputs import check_value, coerce, zero_value
from batchmap.launchplans.model import LaunchPlan
from batchmap.runtime.env import reserved_problem
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
# Every key flytectl's ExecutionConfig reads (flytectl/cmd/create/execution.go). It reads
# the file through sigs.k8s.io/yaml and encoding/json, so keys match case-insensitively.
FLYTECTL_KEYS = (
    *KEY_ORDER,
    "task",
    "targetExecutionCluster",
    "clusterPool",
    "overwriteCache",
    "dryRun",
    "relaunch",
    "recover",
    "execFile",
)
IDENTITY_KEYS = ("iamRoleARN", "kubeServiceAcct")
# Keys flytectl knows that do not apply here: each gets a warning naming it, when set.
NOT_APPLIED = {
    "targetExecutionCluster": "AWS Batch has no Flyte clusters; the queue rules choose the "
    "job queue (docs/queues.md)",
    "clusterPool": "AWS Batch has no Flyte cluster pools; the queue rules choose the job queue "
    "(docs/queues.md)",
    "overwriteCache": "batchmap has no cache: every child runs anyway",
    "dryRun": "flytectl reads it from the command line only: pass --dryRun",
    "relaunch": "flytectl reads it from the command line only; batchmap relaunches with "
    "'batchmap relaunch NAME'",
    "recover": "flytectl reads it from the command line only; 'batchmap relaunch NAME --failed' "
    "re-runs the failed children",
    "execFile": "flytectl reads it from the command line only",
}
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
    write_user_file(path, text, force=force)


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
    task: str | None = None
    warnings: list[Problem] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _canonical(doc: YamlDocument) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
    """(data under flytectl's key names, canonical -> key as written, problems): keys match
    case-insensitively as in flytectl; a truly unknown key is an error with a did-you-mean."""
    known = {k.lower(): k for k in FLYTECTL_KEYS}
    data: dict[str, Any] = {}
    written: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in doc.data.items():
        canonical = known.get(str(key).lower())
        if canonical is None:
            problems.append(
                doc.problem(
                    [key],
                    f"unknown key '{key}'",
                    hint=did_you_mean(str(key), FLYTECTL_KEYS)
                    or f"an exec file has flytectl's keys: {', '.join(KEY_ORDER)}, task",
                )
            )
            continue
        if canonical in written:
            problems.append(
                doc.problem(
                    [key],
                    f"{key!r} sets {canonical} again (after {written[canonical]!r}); the later "
                    "one counts, as in flytectl",
                    warning=True,
                )
            )
        data[canonical] = value
        written[canonical] = key
        if canonical in NOT_APPLIED and value not in (None, "", False):
            problems.append(
                doc.problem(
                    [key], f"{key} is not used here: {NOT_APPLIED[canonical]}", warning=True
                )
            )
    return data, written, problems


def load(path: Path, *, checks: Path | None = None) -> ExecFile:
    """Read and shape-check an exec file; every problem at once, with lines.

    What flytectl accepts loads: its keys in any case, and the keys that have no meaning
    here (``clusterPool``, ``overwriteCache``, ...) with a warning each. A schema check
    that passed for the same data before is not run again (``checks``: files/checked.py)."""
    doc = load_file(path)
    if not isinstance(doc.data, dict):
        raise InvalidInputError.from_problems(
            [doc.problem([], "expected an exec file (a mapping of iamRoleARN, inputs, ...)")],
            f"{path}: invalid exec file",
        )
    data, written, problems = _canonical(doc)
    print_ = checked.fingerprint("execfile", data) if checks is not None else None
    found = [] if checked.passed(checks, path, "execfile", print_) else None
    if found is None:
        found = schema_problems(doc, "execfile", data=data)
        if not found:
            checked.remember(checks, path, "execfile", print_)
    for p in found:
        head, _, rest = p.path.partition(".")
        key, bracket, index = head.partition("[")
        if written.get(key, key) != key:  # report it under the key as the user wrote it
            where = [written[key]]
            p = Problem(
                p.message,
                p.file,
                f"{written[key]}{bracket}{index}" + (f".{rest}" if rest else ""),
                doc.line_of(where),
                p.hint,
                p.warning,
            )
        problems.append(p)

    def path_of(key: str) -> list[Any]:
        return [written.get(key, key)]

    if data.get("task") and data.get("workflow"):
        problems.append(
            doc.problem(
                path_of("task"),
                "both task and workflow are set: an exec file runs one of them",
                hint="flytectl refuses it too ('either task or workflow name should be "
                "specified'): keep one",
            )
        )
    elif not data.get("task") and not data.get("workflow"):
        problems.append(
            doc.problem(
                path_of("workflow") if "workflow" in data else [],
                "missing workflow: the launch plan to run",
            )
        )
    role = _text(data.get("iamRoleARN"))
    if role and isinstance(data.get("iamRoleARN"), str):
        problem = role_arn_problem(role)
        if problem:  # flytectl checks nothing; AWS Batch refuses it (prepare stops it there)
            problems.append(
                doc.problem(
                    path_of("iamRoleARN"),
                    problem,
                    hint="AWS Batch refuses it: create execution on AWS stops here",
                    warning=True,
                )
            )
    account = _text(data.get("kubeServiceAcct"))
    if account and isinstance(data.get("kubeServiceAcct"), str):
        problem = service_account_problem(account)
        if problem:
            problems.append(
                doc.problem(
                    path_of("kubeServiceAcct"),
                    problem,
                    hint="EKS refuses it: create execution on AWS stops here",
                    warning=True,
                )
            )
    envs = data.get("envs") or {}
    if isinstance(envs, dict):
        for name, value in envs.items():
            for v in env_name_violations(str(name), (path_of("envs")[0], name)):
                problems.append(doc.problem(list(v.path), v.message, hint=v.fix))
            taken = reserved_problem(str(name))
            if taken:
                problems.append(doc.problem([path_of("envs")[0], name], taken[0], hint=taken[1]))
            why = string_problem(f"{name}={value}", "an environment variable")
            if why:
                problems.append(doc.problem([path_of("envs")[0], name], why))
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
        task=_text(data.get("task")),
        warnings=[p for p in problems if p.warning],
    )


def for_task(ef: ExecFile, plans: list[LaunchPlan]) -> ExecFile:
    """A ``task:`` exec file (flytectl's single-task execution) as the launch plan that runs
    that map task: flytectl runs the task once, and a map task's one run is the whole map.
    Its inputs are the task's (``x``), renamed to the workflow inputs that feed them."""
    doc = ef.doc
    task = str(ef.task)
    runs = [p for p in plans if (p.flyte or {}).get("taskName") == task]
    if ef.version:
        runs = [p for p in runs if p.version == ef.version]
    names = sorted({p.name for p in runs})
    if not runs:
        maps = sorted({(p.flyte["taskName"], p.name) for p in plans if p.flyte})
        raise InvalidInputError.from_problems(
            [
                doc.problem(
                    ["task"],
                    f"no registered launch plan runs task {task}"
                    + (f" version {ef.version}" if ef.version else "")
                    + ": flytectl would run it once; batchmap runs map tasks, through the "
                    "launch plans 'register files' made of them",
                    hint="map tasks registered here: "
                    + ", ".join(f"{t} (launch plan {n})" for t, n in maps[:5])
                    if maps
                    else "register the pyflyte package that holds its map task, or write "
                    "workflow: LAUNCH_PLAN",
                )
            ],
            f"{ef.path}: invalid exec file",
        )
    if len(names) > 1:
        raise InvalidInputError.from_problems(
            [
                doc.problem(
                    ["task"],
                    f"task {task} is the map of several launch plans ({', '.join(names)})",
                    hint="write workflow: NAME instead of task:",
                )
            ],
            f"{ef.path}: invalid exec file",
        )
    plan = runs[0]
    bindings = plan.flyte["bindings"] if plan.flyte else {}
    inputs: dict[str, Any] = {}
    problems = []
    for name, value in ef.inputs.items():
        if name not in bindings:
            problems.append(
                doc.problem(
                    ["inputs", name],
                    f"unknown input {name!r} of task {task}",
                    hint=did_you_mean(name, list(bindings))
                    or f"its inputs: {', '.join(bindings) or 'none'}",
                )
            )
        else:
            inputs[bindings[name]] = value
    if problems:
        raise InvalidInputError.from_problems(problems, f"{ef.path}: invalid exec file")
    from dataclasses import replace

    return replace(ef, workflow=plan.name, version=plan.version, inputs=inputs)


def resolve_inputs(
    ef: ExecFile,
    plan: LaunchPlan,
    *,
    overrides: Mapping[str, items.ItemsSpec] | None = None,
    s3: items.S3Getter | None = None,
) -> dict[str, Any]:
    """The execution's inputs: the file's values checked against the launch plan's types,
    defaults filled in, mapped lists non-empty and of equal length.

    A list input may name its items' source (``{fromFile: …}``, ``{fromPrefix: …}``, or
    ``overrides`` from ``--items``): once everything else checks out, each source is read
    as a stream (``executions/items.py``); a mapped list stays in its spool, any other list
    is read whole.
    """
    doc = ef.doc
    overrides = overrides or {}
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    sources: dict[str, items.ItemsSpec] = {}
    for name, value in ef.inputs.items():
        if name not in plan.inputs:
            problems.append(
                doc.problem(
                    ["inputs", name] if name in (doc.data.get("inputs") or {}) else ["inputs"],
                    f"unknown input {name!r} of launch plan {plan.name}",
                    hint=did_you_mean(name, list(plan.inputs))
                    or f"its inputs: {', '.join(plan.inputs) or 'none'}",
                )
            )
            continue
        spec = plan.inputs[name]
        if name in overrides:
            continue
        if spec.type.is_list and items.is_spec(value):
            try:
                sources[name] = items.parse_spec(value, Path(ef.path).parent)
            except items.SpecError as exc:
                where = ["inputs", name, *exc.path]
                problems.append(doc.problem(where, exc.message, hint=exc.hint))
            continue
        found = list(check_value(spec.type, value))
        for vp in found[:20]:
            problems.append(doc.problem(["inputs", name, *vp.path], vp.message))
        if len(found) > 20:
            problems.append(
                doc.problem(["inputs", name], f"and {len(found) - 20} more wrong items")
            )
        if not found:
            values[name] = coerce(spec.type, value)
    for name, source in overrides.items():
        if name not in plan.inputs:
            problems.append(
                Problem(
                    f"--items {name}: launch plan {plan.name} has no input {name!r}",
                    hint=did_you_mean(name, list(plan.inputs))
                    or f"its inputs: {', '.join(plan.inputs) or 'none'}",
                )
            )
        elif not plan.inputs[name].type.is_list:
            problems.append(
                Problem(f"--items {name}: input {name!r} is a {plan.inputs[name].type}, not a list")
            )
        else:
            sources[name] = source
    for name, spec in plan.inputs.items():
        if name in values or name in ef.inputs or name in overrides:
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
    what = f"{ef.path}: inputs do not fit launch plan {plan.name} {plan.version}"
    if problems:
        raise InvalidInputError.from_problems(problems, what)
    from batchmap.executions.blobs import has_blobs

    errors: list[InvalidInputError] = []
    for name, source in sources.items():
        item_type = plan.inputs[name].type.item
        try:
            read = items.read(source, item_type, s3=s3)
        except InvalidInputError as exc:
            errors.append(exc)
            continue
        # A flytekit map task's inputs.pb and a broadcast input hold the whole list, and
        # local files and folders are each checked and, on AWS, uploaded (executions/blobs).
        whole = name not in plan.map.over or plan.flyte or has_blobs(plan.inputs[name].type)
        values[name] = list(read) if whole else read
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidInputError.from_problems(
            [p for e in errors for p in (e.problems or [Problem(e.message, hint=e.hint)])], what
        )
    problems += _map_problems(doc, plan, values)
    if not problems:  # local files and folders: absolute, and there (batchmap/executions/blobs)
        from batchmap.executions.blobs import local_paths

        types = {name: spec.type for name, spec in plan.inputs.items()}
        values, missing = local_paths(types, values, Path(ef.path).parent)
        for path, message in missing:
            problems.append(doc.problem(["inputs", *path], message))
    if problems:
        raise InvalidInputError.from_problems(problems, what)
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
