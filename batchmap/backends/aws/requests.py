"""The AWS Batch requests of one execution, built as plain data (no AWS calls).

``job_definition`` is what RegisterJobDefinition receives; ``submit_requests``
what each SubmitJob receives. Both are printed by ``--dryRun`` and pinned by
tests. The job definition's log configuration gives every child of the
execution one stream prefix, which is what lets one FilterLogEvents query
cover 10,000 children.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from batchmap.errors import InvalidInputError
from batchmap.runtime import bootstrap_command

MAX_ARRAY_SIZE = 10_000
MAX_ATTEMPTS = 10
MAX_SUBMIT_BYTES = 30 * 1024
MAX_NAME = 128
INDEX_VAR = "AWS_BATCH_JOB_ARRAY_INDEX"
SINGLE_INDEX_VAR = "BATCHMAP_JOB_INDEX"  # a plain job has no AWS index variable
SPOT_RECLAIM = "Host EC2*"


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def go_duration_seconds(text: str) -> int:
    """Seconds of a Go duration such as propeller's ``defaultTimeout: 72h`` or ``1h30m``."""
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", text)
    return int(sum(float(n) * _GO_UNITS[u] for n, u in parts))


def batch_name(text: str) -> str:
    """A valid AWS Batch job or job definition name: letters, digits, '-' and '_', ≤ 128."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", text)
    if not name[:1].isalnum():
        name = "b" + name
    return name[:MAX_NAME]


def stream_prefix(execution: str) -> str:
    return f"batchmap/{execution}"


def chunks(size: int, limit: int = MAX_ARRAY_SIZE) -> list[tuple[int, int]]:
    """(offset, size) of each array job: AWS arrays hold 2..10,000 children."""
    return [(offset, min(limit, size - offset)) for offset in range(0, size, limit)]


def retry_strategy(retries: int, plugin: Mapping[str, Any]) -> dict[str, Any]:
    """retries + 1 attempts clamped by propeller's minRetries/maxRetries and AWS's 1..10.

    Spot reclaims (status reason "Host EC2 ...") are always retried; with no retries
    asked, they get the only second attempt and every other failure exits.
    """
    low = int(plugin.get("minRetries", 0))
    high = int(plugin.get("maxRetries", MAX_ATTEMPTS - 1))
    retries = max(low, min(high, retries))
    attempts = max(1, min(MAX_ATTEMPTS, retries + 1))
    rules: list[dict[str, str]] = [{"onStatusReason": SPOT_RECLAIM, "action": "RETRY"}]
    if attempts == 1:
        attempts = 2
        rules.append({"onExitCode": "*", "action": "EXIT"})
    return {"attempts": attempts, "evaluateOnExit": rules}


def resources(task: Mapping[str, Any]) -> list[dict[str, str]]:
    vcpu = float(task.get("vcpu", 1))
    out = [
        {"type": "VCPU", "value": str(int(vcpu)) if vcpu.is_integer() else str(vcpu)},
        {"type": "MEMORY", "value": str(int(task.get("memory", 2048)))},
    ]
    if int(task.get("gpu", 0)):
        out.append({"type": "GPU", "value": str(int(task["gpu"]))})
    return out


def child_command(task: Mapping[str, Any]) -> list[str]:
    """The container command of a (non-Flyte) child, by ``task.runtime``."""
    if task.get("runtime", "python3") == "batchmap-task":
        return ["batchmap-task", "--", *task["command"]]
    return bootstrap_command(task["command"])


def job_definition(
    *,
    execution: str,
    plan: Mapping[str, Any],
    role: str | None,
    service_account: str | None,
    log_group: str,
    plugin: Mapping[str, Any],
    eks: bool,
    flyte_run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """RegisterJobDefinition's input for one execution (``plan`` is the launch plan spec).

    The command runs the child (docs/aws.md): ``python3`` with batchmap's child inline, or
    the image's own ``batchmap-task`` with ``task.runtime: batchmap-task``. ``flyte_run``
    (a flytekit map task) replaces it with the command and environment Propeller would
    give it."""
    task = plan["task"]
    command = list(flyte_run["command"]) if flyte_run else child_command(task)
    env = {
        **{str(k): str(v) for k, v in (plugin.get("defaultEnvVars") or {}).items()},
        **task.get("env", {}),
        **(flyte_run["env"] if flyte_run else {}),
    }
    environment = [{"name": k, "value": v} for k, v in sorted(env.items())]
    secrets = [{"name": k, "valueFrom": v} for k, v in sorted(task.get("secrets", {}).items())]
    tags = {
        "batchmap:execution": execution,
        "batchmap:launchplan": plan["name"],
        "batchmap:version": str(plan["version"]),
    }
    request: dict[str, Any] = {
        "jobDefinitionName": batch_name(
            f"batchmap-{plan['project']}-{plan['domain']}-{plan['name']}"
        ),
        "type": "container",
        "retryStrategy": retry_strategy(int(task.get("retries", 0)), plugin),
        "propagateTags": True,
        "tags": tags,
    }
    timeout = task.get("timeout") or (
        go_duration_seconds(plugin["defaultTimeout"]) if plugin.get("defaultTimeout") else None
    )
    if timeout:
        request["timeout"] = {"attemptDurationSeconds": max(60, int(timeout))}
    if eks:
        container: dict[str, Any] = {
            "name": "main",
            "image": task["image"],
            "command": command,
            "env": environment,
            "resources": {
                "limits": {
                    r["type"].lower().replace("vcpu", "cpu"): r["value"]
                    + ("Mi" if r["type"] == "MEMORY" else "")
                    for r in resources(task)
                }
            },
        }
        request["eksProperties"] = {
            "podProperties": {
                "containers": [container],
                **({"serviceAccountName": service_account} if service_account else {}),
            }
        }
        return request
    platform = "FARGATE" if task.get("platform") == "FARGATE" else "EC2"
    request["platformCapabilities"] = [platform]
    properties: dict[str, Any] = {
        "image": task["image"],
        "command": command,
        "resourceRequirements": resources(task),
        "environment": environment,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-stream-prefix": stream_prefix(execution),
            },
        },
    }
    if role:
        properties["jobRoleArn"] = role
    if secrets:
        properties["secrets"] = secrets
    if platform == "FARGATE":
        if not task.get("executionRoleArn"):
            raise InvalidInputError(
                f"launch plan {plan['name']}: Fargate needs task.executionRoleArn "
                "(the role ECS uses to pull the image and write logs)"
            )
        properties["executionRoleArn"] = task["executionRoleArn"]
        properties["networkConfiguration"] = {"assignPublicIp": "ENABLED"}
        properties["fargatePlatformConfiguration"] = {"platformVersion": "LATEST"}
    request["containerProperties"] = properties
    return request


def submit_requests(
    *,
    execution: str,
    project: str,
    domain: str,
    plan: Mapping[str, Any],
    size: int,
    queue: str,
    inputs_uri: str,
    output_prefix: str,
    envs: Mapping[str, str],
    max_array: int = MAX_ARRAY_SIZE,
) -> list[dict[str, Any]]:
    """One SubmitJob input per array job (several past 10,000 items; a plain job for 1)."""
    requests = []
    pieces = chunks(size, max_array)
    for number, (offset, count) in enumerate(pieces):
        environment = {
            **envs,
            "BATCHMAP_INPUTS": inputs_uri,
            "BATCHMAP_OUTPUT_PREFIX": output_prefix,
            "BATCHMAP_EXECUTION": execution,
            "BATCHMAP_ARRAY_SIZE": str(size),
            "BATCH_JOB_ARRAY_INDEX_OFFSET": str(offset),
            "BATCH_JOB_ARRAY_INDEX_VAR_NAME": INDEX_VAR if count > 1 else SINGLE_INDEX_VAR,
        }
        if count == 1:
            environment[SINGLE_INDEX_VAR] = "0"
        request: dict[str, Any] = {
            "jobName": batch_name(execution if len(pieces) == 1 else f"{execution}-{number}"),
            "jobQueue": queue,
            "jobDefinition": "",  # the registered revision's ARN, filled in at submission
            "containerOverrides": {
                "environment": [{"name": k, "value": str(v)} for k, v in environment.items()]
            },
            "tags": {
                "batchmap:project": project,
                "batchmap:domain": domain,
                "batchmap:execution": execution,
                "batchmap:launchplan": plan["name"],
                "batchmap:version": str(plan["version"]),
                "batchmap:offset": str(offset),
            },
            "propagateTags": True,
        }
        if count > 1:
            request["arrayProperties"] = {"size": count}
        encoded = len(json.dumps(request).encode())
        if encoded > MAX_SUBMIT_BYTES:
            raise InvalidInputError(
                f"the SubmitJob request is {encoded:,} bytes; "
                f"AWS Batch accepts {MAX_SUBMIT_BYTES:,}",
                hint="move large values out of 'envs' and into inputs",
            )
        requests.append(request)
    return requests
