"""Rules of a launch plan that a JSON Schema cannot say.

Input types parse and defaults fit them; ``map.over`` names distinct list
inputs; every ``{{ placeholder }}`` of the command resolves; timeouts, memory,
environment names, secrets, vCPU/memory/GPU per platform and role ARNs are what AWS
Batch accepts (its rules live in ``batchmap/aws/limits.py``).
Each problem names its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchmap.aws import limits
from batchmap.aws.arns import role_arn_problem
from batchmap.errors import Problem
from batchmap.files.schemas import did_you_mean
from batchmap.files.yamldoc import YamlDocument
from batchmap.launchplans.inputs import TypeSyntaxError, check_value, parse_type
from batchmap.launchplans.model import (
    DEFAULT_MEMORY_MIB,
    DEFAULT_VCPU,
    PLACEHOLDER,
    InputSpec,
    item_type,
    parse_memory,
)
from batchmap.runtime.env import reserved_problem
from batchmap.runtime.oslimits import string_problem
from batchmap.times import parse_duration


def semantic_problems(doc: YamlDocument, data: dict[str, Any]) -> list[Problem]:
    """Rules a JSON Schema cannot say: types, defaults, map lists, placeholders, limits."""
    problems: list[Problem] = []
    inputs: dict[str, InputSpec] = {}
    for name, raw in (data.get("inputs") or {}).items():
        try:
            t = parse_type(raw["type"])
        except TypeSyntaxError as exc:
            problems.append(doc.problem(["inputs", name, "type"], str(exc)))
            continue
        if "default" in raw:
            for vp in check_value(t, raw["default"]):
                problems.append(doc.problem(["inputs", name, "default", *vp.path], vp.message))
        inputs[name] = InputSpec(name, t, raw.get("default"), "default" in raw)
    over = data["map"]["over"]
    seen: set[str] = set()
    for i, name in enumerate(over):
        path = ["map", "over", i]
        if name in seen:
            problems.append(doc.problem(path, f"input {name!r} is listed twice"))
        seen.add(name)
        if name not in (data.get("inputs") or {}):
            known = list(data.get("inputs") or {})
            problems.append(
                doc.problem(
                    path,
                    f"{name!r} is not an input of this launch plan",
                    hint=did_you_mean(name, known)
                    or (f"inputs: {', '.join(known)}" if known else "declare it under inputs"),
                )
            )
        elif name in inputs and not inputs[name].type.is_list:
            problems.append(
                doc.problem(
                    path,
                    f"input {name!r} is {inputs[name].type}, but a map goes over lists",
                    hint=f"declare it as list[{inputs[name].type}]",
                )
            )
    if not data.get("flyte"):  # a Flyte task's command is Propeller's template, not ours
        problems += _command_problems(doc, data["task"]["command"], inputs, over)
    problems += _task_problems(doc, data["task"])
    for key in ("iamRoleARN",):
        value = data.get(key)
        if value:
            problem = role_arn_problem(value)
            if problem:
                problems.append(doc.problem([key], problem))
    return problems


def _command_problems(
    doc: YamlDocument, command: list[str], inputs: Mapping[str, InputSpec], over: list[str]
) -> list[Problem]:
    problems = []
    single = item_type(inputs, over)
    for i, arg in enumerate(command):
        path = ["task", "command", i]
        if arg.count("{{") != arg.count("}}"):
            problems.append(doc.problem(path, f"unbalanced '{{{{' or '}}}}' in {arg!r}"))
            continue
        for m in PLACEHOLDER.finditer(arg):
            expr = m.group("expr")
            head, _, rest = expr.partition(".")
            if expr in ("item", "index"):
                continue
            if head == "inputs" and rest:
                if rest not in inputs:
                    problems.append(
                        doc.problem(
                            path,
                            f"{{{{ {expr} }}}}: no input named {rest!r}",
                            hint=did_you_mean(rest, list(inputs)),
                        )
                    )
                continue
            if head == "item" and rest:
                if len(over) > 1:
                    if rest not in over:
                        problems.append(
                            doc.problem(
                                path,
                                f"{{{{ {expr} }}}}: item has the fields {', '.join(over)}",
                                hint=did_you_mean(rest, over),
                            )
                        )
                elif single is not None and single.kind != "dict":
                    problems.append(
                        doc.problem(
                            path,
                            f"{{{{ {expr} }}}}: each item is a {single}, it has no fields",
                            hint="use {{ item }}",
                        )
                    )
                continue
            problems.append(
                doc.problem(
                    path,
                    f"unknown placeholder {{{{ {expr} }}}}",
                    hint="use {{ item }}, {{ item.FIELD }}, {{ inputs.NAME }} or {{ index }}",
                )
            )
    return problems


def _task_problems(doc: YamlDocument, task: dict[str, Any]) -> list[Problem]:
    """AWS Batch's request rules (batchmap/aws/limits.py) on the task, each at its line."""
    found: list[limits.Violation] = []
    problems: list[Problem] = []
    if "timeout" in task:
        try:  # the schema passed its form; only its size can be wrong here
            found += limits.timeout_violations(parse_duration(task["timeout"]), ("task", "timeout"))
        except ValueError as exc:
            problems.append(doc.problem(["task", "timeout"], f"{exc}", hint="at most 100 years"))
    platform = task.get("platform", "EC2")
    try:
        memory = parse_memory(task.get("memory", DEFAULT_MEMORY_MIB))
    except ValueError as exc:
        memory = None
        problems.append(doc.problem(["task", "memory"], f"{exc}"))
    vcpu = float(task.get("vcpu", DEFAULT_VCPU))
    found += limits.vcpu_violations(vcpu, platform)
    if memory is not None:
        found += limits.memory_violations(memory, vcpu, platform)
    found += limits.gpu_violations(int(task.get("gpu", 0)), platform)
    for key in ("env", "secrets"):
        for name in task.get(key) or {}:
            found += limits.env_name_violations(name, ("task", key, name))
            taken = reserved_problem(name)
            if taken:
                found.append(limits.Violation(("task", key, name), *taken))
    problems += [doc.problem(list(v.path), v.message, hint=v.fix) for v in found]
    # What reaches a program as an argument or a variable must be one the system passes.
    strings = [(("task", "image"), task.get("image"))]
    strings += [(("task", "command", i), arg) for i, arg in enumerate(task.get("command") or [])]
    strings += [(("task", "env", k), v) for k, v in (task.get("env") or {}).items()]
    for path, text in strings:
        why = string_problem(text) if isinstance(text, str) else None
        if why:
            problems.append(doc.problem(list(path), why))
    role = task.get("executionRoleArn")
    if role:
        problem = role_arn_problem(role)
        if problem:
            problems.append(doc.problem(["task", "executionRoleArn"], problem))
    return problems
