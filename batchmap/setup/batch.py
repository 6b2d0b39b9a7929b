"""Drivers of the AWS Batch types: AWS::Batch::ComputeEnvironment and AWS::Batch::JobQueue.

botocore ships no Batch waiters, so the two below are botocore waiter models
(the format of botocore's own ``waiters-2.json``, as Airflow's Batch hook does):
a job queue can only use a compute environment AWS calls VALID, and a queue
takes jobs once it is VALID itself. A compute environment or queue that AWS
makes INVALID is left for the user to see (its reason is the error); it is not
undone, since the fix (often a role IAM had not yet propagated) is an update.
"""

from __future__ import annotations

from typing import Any

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.setup.driver import Observed, Props, camel, wait
from batchmap.setup.model import Context

WAITERS: dict[str, Any] = {
    "version": 2,
    "waiters": {
        "ComputeEnvironmentValid": {
            "operation": "DescribeComputeEnvironments",
            "delay": 5,
            "maxAttempts": 60,
            "acceptors": [
                {
                    "state": "success",
                    "matcher": "pathAll",
                    "argument": "computeEnvironments[].status",
                    "expected": "VALID",
                },
                {
                    "state": "failure",
                    "matcher": "pathAny",
                    "argument": "computeEnvironments[].status",
                    "expected": "INVALID",
                },
            ],
        },
        "JobQueueValid": {
            "operation": "DescribeJobQueues",
            "delay": 5,
            "maxAttempts": 60,
            "acceptors": [
                {
                    "state": "success",
                    "matcher": "pathAll",
                    "argument": "jobQueues[].status",
                    "expected": "VALID",
                },
                {
                    "state": "failure",
                    "matcher": "pathAny",
                    "argument": "jobQueues[].status",
                    "expected": "INVALID",
                },
            ],
        },
    },
}


def waiter(batch: Any, name: str) -> Any:
    from botocore.waiter import WaiterModel, create_waiter_with_client

    return create_waiter_with_client(name, WaiterModel(WAITERS), batch)


def _short(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1]


def _status(item: dict[str, Any]) -> list[str]:
    problems = []
    if item.get("state", "ENABLED") != "ENABLED":
        problems.append(f"state {item['state']}")
    if item.get("status") == "INVALID":
        problems.append(f"INVALID: {item.get('statusReason') or 'no reason given'}")
    return problems


class ComputeEnvironmentDriver:
    def __init__(self, clients: ClientFactory) -> None:
        self.batch = clients.client("batch")

    def name(self, props: Props) -> str:
        return str(props["ComputeEnvironmentName"])

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        arn = (
            f"arn:{ctx.partition}:batch:{ctx.region}:{ctx.account}:"
            f"compute-environment/{self.name(props)}"
        )
        return {"Ref": arn, "ComputeEnvironmentArn": arn}

    def summary(self, props: Props) -> str:
        c = props["ComputeResources"]
        return f"{c['Type']}, up to {c['MaxvCpus']} vCPUs, {len(c['Subnets'])} subnets"

    def read(self, props: Props) -> Observed | None:
        name = self.name(props)
        with aws_call("batch:DescribeComputeEnvironments"):
            found = self.batch.describe_compute_environments(computeEnvironments=[name])[
                "computeEnvironments"
            ]
        if not found:
            return None
        env = found[0]
        have = env.get("computeResources") or {}
        want = props["ComputeResources"]
        problems = []
        if have.get("type") and have["type"] != want["Type"]:
            problems.append(f"type {have['type']}, want {want['Type']} (replace it by hand)")
        if have.get("maxvCpus") != want["MaxvCpus"]:
            problems.append(f"maxvCpus {have.get('maxvCpus')}, want {want['MaxvCpus']}")
        for key, label in (("Subnets", "subnets"), ("SecurityGroupIds", "security groups")):
            api_key = key[:1].lower() + key[1:]
            if api_key in have and set(have[api_key]) != set(want[key]):
                problems.append(f"{label} {', '.join(have[api_key])}, want {', '.join(want[key])}")
        if _short(env.get("serviceRole") or props["ServiceRole"]) != _short(props["ServiceRole"]):
            problems.append(f"service role {env['serviceRole']}, want {props['ServiceRole']}")
        problems += _status(env)
        arn = env["computeEnvironmentArn"]
        return Observed(
            {"Ref": arn, "ComputeEnvironmentArn": arn},
            f"{env.get('status', '')}, {have.get('type', '')}".strip(", "),
            problems,
        )

    def create(self, props: Props) -> dict[str, str]:
        name = self.name(props)
        with aws_call("batch:CreateComputeEnvironment"):
            arn = self.batch.create_compute_environment(**camel(props))["computeEnvironmentArn"]
        wait(
            waiter(self.batch, "ComputeEnvironmentValid"),
            f"compute environment {name}",
            computeEnvironments=[name],
        )
        return {"Ref": arn, "ComputeEnvironmentArn": arn}

    def update(self, props: Props, observed: Observed) -> None:
        name = self.name(props)
        resources = camel(props["ComputeResources"])
        changes = {
            k: resources[k]
            for k in ("maxvCpus", "minvCpus", "subnets", "securityGroupIds")
            if k in resources
        }
        with aws_call("batch:UpdateComputeEnvironment"):
            self.batch.update_compute_environment(
                computeEnvironment=name,
                state=props["State"],
                serviceRole=props["ServiceRole"],
                computeResources=changes,
            )
        wait(
            waiter(self.batch, "ComputeEnvironmentValid"),
            f"compute environment {name}",
            computeEnvironments=[name],
        )


class JobQueueDriver:
    def __init__(self, clients: ClientFactory) -> None:
        self.batch = clients.client("batch")

    def name(self, props: Props) -> str:
        return str(props["JobQueueName"])

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        arn = f"arn:{ctx.partition}:batch:{ctx.region}:{ctx.account}:job-queue/{self.name(props)}"
        return {"Ref": arn, "JobQueueArn": arn}

    def summary(self, props: Props) -> str:
        envs = [_short(o["ComputeEnvironment"]) for o in props["ComputeEnvironmentOrder"]]
        return f"on {', '.join(envs)}"

    def read(self, props: Props) -> Observed | None:
        name = self.name(props)
        with aws_call("batch:DescribeJobQueues"):
            found = self.batch.describe_job_queues(jobQueues=[name])["jobQueues"]
        if not found:
            return None
        queue = found[0]
        have = [_short(o["computeEnvironment"]) for o in queue.get("computeEnvironmentOrder") or []]
        want = [_short(o["ComputeEnvironment"]) for o in props["ComputeEnvironmentOrder"]]
        problems = []
        if not set(want) <= set(have):
            problems.append(
                f"uses {', '.join(have) or 'no compute environment'}, not {', '.join(want)}"
            )
        problems += _status(queue)
        arn = queue["jobQueueArn"]
        return Observed(
            {"Ref": arn, "JobQueueArn": arn},
            f"on {', '.join(have)}",
            problems,
            {"reorder": not set(want) <= set(have)},
        )

    def _environments_valid(self, props: Props) -> None:
        """A queue takes only VALID compute environments (one an earlier run left
        CREATING may be ready by now)."""
        envs = [o["ComputeEnvironment"] for o in props["ComputeEnvironmentOrder"]]
        wait(
            waiter(self.batch, "ComputeEnvironmentValid"),
            f"compute environment {', '.join(_short(e) for e in envs)}",
            computeEnvironments=envs,
        )

    def create(self, props: Props) -> dict[str, str]:
        name = self.name(props)
        self._environments_valid(props)
        with aws_call("batch:CreateJobQueue"):
            arn = self.batch.create_job_queue(**camel(props))["jobQueueArn"]
        wait(waiter(self.batch, "JobQueueValid"), f"job queue {name}", jobQueues=[name])
        return {"Ref": arn, "JobQueueArn": arn}

    def update(self, props: Props, observed: Observed) -> None:
        name = self.name(props)
        extra = {}
        if observed.state["reorder"]:  # AWS takes names or ARNs here, moto only ARNs
            self._environments_valid(props)
            extra["computeEnvironmentOrder"] = camel(props["ComputeEnvironmentOrder"])
        with aws_call("batch:UpdateJobQueue"):
            self.batch.update_job_queue(jobQueue=name, state=props["State"], **extra)
        wait(waiter(self.batch, "JobQueueValid"), f"job queue {name}", jobQueues=[name])
