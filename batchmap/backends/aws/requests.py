"""The AWS Batch requests of one execution, built as plain data (no AWS calls).

``job_definition`` is what RegisterJobDefinition receives; ``submit_requests``
what each SubmitJob receives. Both are printed by ``--dryRun`` and pinned by
tests, and both are checked against AWS Batch's rules (``batchmap/aws/limits.py``)
right here, as built, so a dry run fails exactly where a real run would. The job
definition's log configuration gives every child of the execution one stream
prefix, which is what lets one FilterLogEvents query cover 10,000 children.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from batchmap.aws import limits
from batchmap.aws.limits import MAX_ARRAY_SIZE, MAX_ATTEMPTS, MAX_NAME_LENGTH
from batchmap.errors import InvalidInputError
from batchmap.runtime import bootstrap_command
from batchmap.runtime.env import child_environment
from batchmap.tasks.base import ChildSpec
from batchmap.times import parse_duration

SPOT_RECLAIM = "Host EC2*"
# Kubernetes' names of the resources (API_EksContainerResourceRequirements).
EKS_RESOURCE_NAMES = {"VCPU": "cpu", "MEMORY": "memory", "GPU": "nvidia.com/gpu"}


def batch_name(text: str) -> str:
    """A valid AWS Batch job or job definition name: letters, digits, '-' and '_', ≤ 128."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", text)
    if not name[:1].isalnum():
        name = "b" + name
    return name[:MAX_NAME_LENGTH]


def _refuse(violations: Sequence[limits.Violation], what: str) -> None:
    """Exit 3 with every broken rule of a request, before anything is sent."""
    if violations:
        raise InvalidInputError.from_problems(
            [v.to_problem() for v in violations], f"{what} breaks AWS Batch's limits"
        )


def definition_tags(execution: str, plan: Mapping[str, Any]) -> dict[str, str]:
    """The job definition's tags, which AWS Batch propagates to every job of it."""
    return {
        "batchmap:execution": execution,
        "batchmap:launchplan": plan["name"],
        "batchmap:version": str(plan["version"]),
    }


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


def child_command(task: Mapping[str, Any], template: Sequence[str]) -> list[str]:
    """The container command that runs ``template`` in batchmap's child, by ``task.runtime``."""
    if task.get("runtime", "python3") == "batchmap-task":
        return ["batchmap-task", "--", *template]
    return bootstrap_command(template)


def job_definition(
    *,
    execution: str,
    plan: Mapping[str, Any],
    child: ChildSpec,
    role: str | None,
    service_account: str | None,
    log_group: str,
    plugin: Mapping[str, Any],
    eks: bool,
    region: str | None = None,
) -> dict[str, Any]:
    """RegisterJobDefinition's input for one execution (``plan`` is the launch plan spec,
    ``child`` what each child runs: a template for batchmap's child, or a command as is).

    A template runs in batchmap's child (docs/aws.md, the child contract): ``python3``
    with the child inline, or the image's own ``batchmap-task`` with
    ``task.runtime: batchmap-task``."""
    task = plan["task"]
    command = child_command(task, child.command) if child.templated else list(child.command)
    env = {
        # The child reads its inputs from the execution's bucket in this region: saying so
        # spares it a redirect where the container is not told its region.
        **({"AWS_DEFAULT_REGION": region} if region and child.templated else {}),
        **{str(k): str(v) for k, v in (plugin.get("defaultEnvVars") or {}).items()},
        **child.env,
    }
    environment = [{"name": k, "value": v} for k, v in sorted(env.items())]
    secrets = [{"name": k, "valueFrom": v} for k, v in sorted(task.get("secrets", {}).items())]
    tags = definition_tags(execution, plan)
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
        parse_duration(plugin["defaultTimeout"], go=True) if plugin.get("defaultTimeout") else None
    )
    if timeout:
        request["timeout"] = {"attemptDurationSeconds": int(timeout)}
    if eks:
        container: dict[str, Any] = {
            "name": "main",
            "image": task["image"],
            "command": command,
            "env": environment,
            "resources": {
                "limits": {
                    EKS_RESOURCE_NAMES[r["type"]]: r["value"]
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
        _refuse(limits.job_definition_violations(request), "the job definition")
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
    _refuse(limits.job_definition_violations(request), "the job definition")
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
            **child_environment(
                execution=execution,
                inputs_uri=inputs_uri,
                output_prefix=output_prefix,
                size=size,
                offset=offset,
                array=count > 1,
            ),
        }
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
        _refuse(
            limits.submit_job_violations(request, definition_tags(execution, plan)),
            f"the SubmitJob request {request['jobName']}",
        )
        requests.append(request)
    return requests
