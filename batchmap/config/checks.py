"""Cross-field checks of a config file: what its JSON Schema cannot say.

Role keys that must agree between FlyteAdmin and propeller, the task plugin
that must handle map tasks on AWS, tags that name no queue, entries that can
never be chosen, retry bounds. Errors stop the config from loading; warnings
are shown (``config validate --strict`` makes them errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from batchmap.errors import Problem
from batchmap.files.schemas import did_you_mean, schema_problems
from batchmap.files.yamldoc import YamlDocument

AWS_ARRAY_PLUGIN = "aws_array"
MAX_BATCH_RETRIES = 9  # retryStrategy.attempts is 1..10


STORAGE_HINT = "children in AWS Batch cannot read a local folder: use s3://BUCKET/PREFIX"


def backend_storage_problem(backend: object, storage: str) -> str | None:
    """The aws backend's one rule about storage (config file, config, flags, init)."""
    if backend == "aws" and not storage.startswith("s3://"):
        return f"with backend 'aws', storage must be an s3:// location; got {storage!r}"
    return None


def dig(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def check_config(
    doc: YamlDocument, backend: str | None = None, *, advice: bool = False
) -> list[Problem]:
    """Schema and cross-field problems of a config document (errors and warnings)."""
    if not isinstance(doc.data, dict):
        return [doc.problem([], "expected a mapping of settings at the top level")]
    problems = [_admin_accepts(p) for p in schema_problems(doc, "config")]
    if any(not p.warning for p in problems):
        return problems
    problems += _cross_checks(doc, backend or doc.data.get("backend", "local"))
    return problems + (_advice(doc) if advice else [])


def _admin_accepts(problem: Problem) -> Problem:
    """FlyteAdmin loads its ``queues:`` block leniently (unknown keys ignored, empty lists
    and any queue name taken): what it accepts loads here too, with a warning."""
    if not problem.path.startswith("queues.") or problem.message.startswith("expected "):
        return problem
    hint = "FlyteAdmin accepts it and ignores it" if "unknown key" in problem.message else None
    if problem.hint:
        hint = f"{problem.hint}; {hint}" if hint else problem.hint
    return replace(problem, warning=True, hint=hint)


def _cross_checks(doc: YamlDocument, backend: str) -> list[Problem]:
    data: dict[str, Any] = doc.data
    problems: list[Problem] = []
    role_name_key = dig(data, ("flyteadmin", "roleNameKey"))
    annotation_key = dig(data, ("plugins", "aws", "batch", "roleAnnotationKey"))
    if role_name_key and annotation_key and role_name_key != annotation_key:
        line = doc.line_of(["flyteadmin", "roleNameKey"])
        problems.append(
            doc.problem(
                ["plugins", "aws", "batch", "roleAnnotationKey"],
                f"must equal flyteadmin.roleNameKey ({role_name_key!r}, line {line}); "
                f"got {annotation_key!r}",
                hint="FlyteAdmin writes the role under roleNameKey and propeller reads it "
                "under roleAnnotationKey: use the same key in both",
            )
        )
    storage = data.get("storage")
    problem = backend_storage_problem(backend, storage) if isinstance(storage, str) else None
    if problem:
        problems.append(doc.problem(["storage"], problem, hint=STORAGE_HINT))
    problems += _task_plugin_checks(doc, backend)
    problems += _queue_checks(doc)
    plugins = data.get("plugins") or {}
    for name in plugins:
        if name != "aws":
            problems.append(
                doc.problem(
                    ["plugins", name],
                    "ignored: batchmap reads only plugins.aws",
                    hint=did_you_mean(name, ["aws"]),
                    warning=True,
                )
            )
    batch = dig(data, ("plugins", "aws", "batch")) or {}
    low, high = batch.get("minRetries"), batch.get("maxRetries")
    for key in ("minRetries", "maxRetries"):
        if (batch.get(key) or 0) > MAX_BATCH_RETRIES:
            problems.append(
                doc.problem(
                    ["plugins", "aws", "batch", key],
                    f"AWS Batch allows at most {MAX_BATCH_RETRIES + 1} attempts, so batchmap "
                    f"uses {MAX_BATCH_RETRIES} retries at most",
                    warning=True,
                )
            )
    if low is not None and high is not None and low > high:
        problems.append(
            doc.problem(
                ["plugins", "aws", "batch", "minRetries"],
                f"minRetries ({low}) is greater than maxRetries ({high})",
            )
        )
    return problems


def _task_plugin_checks(doc: YamlDocument, backend: str) -> list[Problem]:
    task_plugins = dig(doc.data, ("tasks", "task-plugins"))
    if task_plugins is None:
        return []
    warning = backend != "aws"
    problems = []
    enabled = task_plugins.get("enabled-plugins")
    if enabled is not None and AWS_ARRAY_PLUGIN not in enabled:
        problems.append(
            doc.problem(
                ["tasks", "task-plugins", "enabled-plugins"],
                f"'{AWS_ARRAY_PLUGIN}' is not enabled, so map tasks would not run on AWS Batch",
                hint=f"add '- {AWS_ARRAY_PLUGIN}' to the list",
                warning=warning,
            )
        )
    handler = (task_plugins.get("default-for-task-types") or {}).get("container_array")
    if handler != AWS_ARRAY_PLUGIN:
        got = f"got {handler!r}" if handler else "it is not set"
        problems.append(
            doc.problem(
                ["tasks", "task-plugins", "default-for-task-types", "container_array"],
                f"must be '{AWS_ARRAY_PLUGIN}' for map tasks to run on AWS Batch; {got}",
                hint=f"set 'container_array: {AWS_ARRAY_PLUGIN}' under default-for-task-types",
                warning=warning,
            )
        )
    return problems


def _queue_checks(doc: YamlDocument) -> list[Problem]:
    queues = doc.data.get("queues") or {}
    execution_queues = queues.get("executionQueues") or []
    configs = queues.get("workflowConfigs") or []
    problems: list[Problem] = []
    attributes: set[str] = set()
    seen_names: dict[str, int] = {}
    for i, queue in enumerate(execution_queues):
        attributes.update(queue.get("attributes") or [])
        name = queue.get("dynamic")
        if name in seen_names:
            problems.append(
                doc.problem(
                    ["queues", "executionQueues", i, "dynamic"],
                    f"queue {name!r} is listed again (first at executionQueues"
                    f"[{seen_names[name]}]); its tags count twice when queues are picked",
                    warning=True,
                )
            )
        else:
            seen_names[name] = i
    if configs and not execution_queues:
        problems.append(
            doc.problem(
                ["queues", "workflowConfigs"],
                "workflowConfigs route executions to tags, but queues.executionQueues "
                "defines no queue, so no execution gets a queue from them",
                hint="add the AWS Batch job queues under queues.executionQueues",
                warning=True,
            )
        )
        return problems
    known = sorted(attributes)
    last: dict[tuple[Any, ...], int] = {}
    for i, entry in enumerate(configs):
        if entry.get("tags"):
            last[(entry.get("project"), entry.get("domain"), entry.get("workflowName"))] = i
    for i, entry in enumerate(configs):
        tags = entry.get("tags") or []
        dead = [t for t in tags if t not in attributes]
        if tags and len(dead) == len(tags):
            problems.append(
                doc.problem(
                    ["queues", "workflowConfigs", i, "tags"],
                    f"no tag of this entry ({', '.join(map(repr, tags))}) is an attribute "
                    "of any execution queue: executions it is chosen for get no queue, as "
                    "in FlyteAdmin",
                    hint=f"queue attributes are: {', '.join(known) or 'none'}",
                    warning=True,
                )
            )
        else:
            for tag in dead:
                j = tags.index(tag)
                problems.append(
                    doc.problem(
                        ["queues", "workflowConfigs", i, "tags", j],
                        f"tag {tag!r} is not an attribute of any execution queue: it is skipped",
                        hint=did_you_mean(tag, known)
                        or f"queue attributes are: {', '.join(known)}",
                        warning=True,
                    )
                )
        key = (entry.get("project"), entry.get("domain"), entry.get("workflowName"))
        if tags and last[key] != i:
            problems.append(
                doc.problem(
                    ["queues", "workflowConfigs", i],
                    f"never used: workflowConfigs[{last[key]}] matches the same executions and "
                    "comes later (FlyteAdmin keeps the last matching entry)",
                    warning=True,
                )
            )
    return problems


def _advice(doc: YamlDocument) -> list[Problem]:
    """What ``config validate`` adds to the checks every command runs: readings of the
    config that differ from FlyteAdmin's, worth knowing once, not on every command."""
    for i, entry in enumerate((doc.data.get("queues") or {}).get("workflowConfigs") or []):
        if entry.get("project") or entry.get("workflowName"):
            field = "project" if entry.get("project") else "workflowName"
            return [
                doc.problem(
                    ["queues", "workflowConfigs", i, field],
                    "FlyteAdmin ignores project and workflowName in workflowConfigs (since "
                    "2020); batchmap honours them as Flyte's guide documents",
                    hint="docs/queues.md shows both readings side by side; for FlyteAdmin's "
                    "per-project routing use executionQueueAttributes",
                    warning=True,
                )
            ]
    return []
