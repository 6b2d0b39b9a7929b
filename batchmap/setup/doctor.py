"""`batchmap doctor`: check the whole setup, one row per check.

Each check is ok, warn, fail or unverified; only ``fail`` makes doctor exit 5.
AWS calls are batched (one DescribeJobQueues and one
DescribeComputeEnvironments for every configured queue) and read-only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from batchmap.aws.clients import ClientFactory, aws_call, partition_for
from batchmap.aws.iam import Check, check_role, pass_role_statement
from batchmap.config.loader import Config
from batchmap.errors import BatchmapError
from batchmap.files.store import parse_s3_uri
from batchmap.setup.describe import user_role_name


def _location(clients: ClientFactory | None, what: str, location: str) -> Check:
    if location.startswith("s3://"):
        if clients is None:
            return Check(what, "fail", f"{location} needs AWS access")
        bucket, _ = parse_s3_uri(location)
        try:
            with aws_call("s3:HeadBucket"):
                clients.client("s3").head_bucket(Bucket=bucket)
        except BatchmapError as exc:
            return Check(
                what,
                "fail",
                f"{location}: {exc.message}",
                f"create the bucket or fix '{what}' in the config",
            )
        return Check(what, "ok", location)
    path = Path(location)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if os.access(probe, os.W_OK):
        return Check(what, "ok", f"{location} (local folder)")
    return Check(what, "fail", f"{location}: not writable", "fix the permissions or the path")


def _queues(clients: ClientFactory, names: list[str]) -> list[Check]:
    batch = clients.client("batch")
    with aws_call("batch:DescribeJobQueues"):
        found = {
            q["jobQueueName"]: q for q in batch.describe_job_queues(jobQueues=names)["jobQueues"]
        }
    by_arn = {q["jobQueueArn"]: q for q in found.values()}
    wanted_envs = sorted(
        {
            o["computeEnvironment"]
            for q in found.values()
            for o in q.get("computeEnvironmentOrder") or []
        }
    )
    envs: dict[str, dict[str, Any]] = {}
    if wanted_envs:
        with aws_call("batch:DescribeComputeEnvironments"):
            for env in clients.client("batch").describe_compute_environments(
                computeEnvironments=wanted_envs
            )["computeEnvironments"]:
                envs[env["computeEnvironmentName"]] = env
                envs[env["computeEnvironmentArn"]] = env
    checks = []
    for name in names:
        queue = found.get(name) or by_arn.get(name)
        label = f"queue {name}"
        if queue is None:
            checks.append(
                Check(
                    label,
                    "fail",
                    "does not exist in this account and region",
                    "create it (batchmap setup) or fix queues.executionQueues",
                )
            )
            continue
        state, status = queue.get("state", "ENABLED"), queue.get("status", "VALID")
        if state != "ENABLED" or status == "INVALID":
            checks.append(
                Check(
                    label,
                    "fail",
                    f"{state}/{status}: {queue.get('statusReason') or 'cannot take jobs'}",
                    "enable it in AWS Batch",
                )
            )
            continue
        usable, notes, kinds = [], [], set()
        for order in queue.get("computeEnvironmentOrder") or []:
            env = envs.get(order["computeEnvironment"])
            if env is None:
                notes.append(f"{order['computeEnvironment']} missing")
                continue
            resources = env.get("computeResources") or {}
            kind = (
                "EKS"
                if env.get("containerOrchestrationType") == "EKS"
                else resources.get("type", "UNMANAGED")
            )
            kinds.add(kind)
            cname = env["computeEnvironmentName"]
            if env.get("state", "ENABLED") != "ENABLED":
                notes.append(f"{cname} disabled")
            elif env.get("status") == "INVALID":
                notes.append(f"{cname} INVALID: {env.get('statusReason', '')}".strip())
            elif env.get("type") == "MANAGED" and resources.get("maxvCpus", 1) == 0:
                notes.append(f"{cname} has maxvCpus 0")
            else:
                usable.append(cname)
        platform = "/".join(sorted(kinds)) or "no compute environment"
        if not usable:
            checks.append(
                Check(
                    label,
                    "fail",
                    f"no usable compute environment ({'; '.join(notes) or 'none attached'})",
                    "attach an enabled, valid compute environment",
                )
            )
        else:
            detail = f"ENABLED/VALID, {platform} via {', '.join(usable)}"
            if notes:
                detail += f" ({'; '.join(notes)})"
            checks.append(Check(label, "warn" if notes else "ok", detail))
    return checks


def default_roles(config: Config, account: str, region: str | None) -> list[str]:
    """The roles doctor checks without --role: the one `setup` makes for children
    (``setup.userRole``) and FlyteAdmin's ``flyteadmin.assumableIamRole``."""
    roles = []
    name = user_role_name(config)
    if name:
        roles.append(f"arn:{partition_for(region)}:iam::{account}:role/{name}")
    assumable = config.get("flyteadmin.assumableIamRole")
    if assumable and assumable not in roles:
        roles.append(str(assumable))
    return roles


def run_checks(
    config: Config, clients: ClientFactory | None, role: str | None = None
) -> list[Check]:
    """Every check, in the order doctor shows them; ``role`` replaces the default roles."""
    checks = [
        Check(
            "config",
            "ok" if not config.warnings else "warn",
            str(config.config_file or "built-in defaults")
            + (f" ({len(config.warnings)} warnings)" if config.warnings else ""),
        )
    ]
    checks.append(Check("backend", "ok", config.backend))
    checks.append(_location(clients, "storage", config.storage))
    checks.append(_location(clients, "registry", config.registry))
    if clients is None:
        return checks
    try:
        with aws_call("sts:GetCallerIdentity"):
            identity = clients.client("sts").get_caller_identity()
        checks.append(
            Check(
                "credentials",
                "ok",
                f"{identity['Arn']} (account {identity['Account']}, {clients.region})",
            )
        )
    except BatchmapError as exc:
        checks.append(Check("credentials", "fail", exc.message, exc.hint))
        return checks
    names = sorted(
        {q["dynamic"] for q in config.queues.get("executionQueues") or [] if q.get("dynamic")}
    )
    if names:
        checks += _queues(clients, names)
    else:
        checks.append(
            Check(
                "queues",
                "warn",
                "no queues.executionQueues in the config: every execution needs --queue",
            )
        )
    roles = [role] if role else default_roles(config, identity["Account"], clients.region)
    for arn in roles:
        # One role: "role: trust policy", as always; two: each row names its role.
        label = "role" if len(roles) == 1 else f"role {arn.rsplit('/', 1)[-1]}"
        checks += [
            Check(f"{label}: {c.name}", c.status, c.message, c.fix)
            for c in check_role(clients.client("iam"), clients.client("sts"), arn)
        ]
    try:
        with aws_call("logs:DescribeLogGroups"):
            groups = clients.client("logs").describe_log_groups(
                logGroupNamePrefix=config.log_group
            )["logGroups"]
        exists = any(g["logGroupName"] == config.log_group for g in groups)
        checks.append(
            Check(
                "log group",
                "ok" if exists else "warn",
                config.log_group
                + (
                    ""
                    if exists
                    else " does not exist yet (AWS Batch creates it with the first job)"
                ),
            )
        )
    except BatchmapError as exc:
        checks.append(Check("log group", "warn", exc.message))
    return checks


def failed(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


# What batchmap itself calls: the least-privilege policy for its user or CI role.
ACTIONS = {
    "batch": [
        "batch:SubmitJob",
        "batch:DescribeJobs",
        "batch:ListJobs",
        "batch:RegisterJobDefinition",
        "batch:DescribeJobDefinitions",
        "batch:DeregisterJobDefinition",
        "batch:TerminateJob",
        "batch:DescribeJobQueues",
        "batch:DescribeComputeEnvironments",
        "batch:TagResource",
    ],
    "logs": ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogGroups"],
    "identity": ["sts:GetCallerIdentity", "iam:GetRole", "iam:SimulatePrincipalPolicy"],
}


def policy(config: Config) -> dict[str, Any]:
    """The IAM policy batchmap needs (``doctor --print-policy``), in the region's partition."""
    partition = partition_for(config.region)
    buckets = sorted(
        {
            parse_s3_uri(loc)[0]
            for loc in (config.storage, config.registry)
            if loc.startswith("s3://")
        }
    )
    statements: list[dict[str, Any]] = [
        {"Sid": "BatchmapBatch", "Effect": "Allow", "Action": ACTIONS["batch"], "Resource": "*"},
        {"Sid": "BatchmapLogs", "Effect": "Allow", "Action": ACTIONS["logs"], "Resource": "*"},
        {
            "Sid": "BatchmapIdentityChecks",
            "Effect": "Allow",
            "Action": ACTIONS["identity"],
            "Resource": "*",
        },
        {"Sid": "BatchmapPassTaskRoles", **pass_role_statement("*")},
    ]
    if buckets:
        statements.append(
            {
                "Sid": "BatchmapStoreObjects",
                "Effect": "Allow",
                # DeleteObject: an execution lock is deleted (conditionally) when released.
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"arn:{partition}:s3:::{b}/*" for b in buckets],
            }
        )
        statements.append(
            {
                "Sid": "BatchmapStoreList",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:{partition}:s3:::{b}" for b in buckets],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
