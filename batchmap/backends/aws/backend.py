"""The AWS Batch backend: one execution is one array job (or several past 10,000).

``finalize`` decides everything before a side effect — the queue and why, the
queue's state, the role checks, the job definition and every SubmitJob
request — so ``--dryRun`` shows exactly what ``submit`` will send.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Any

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.aws.iam import check_role
from batchmap.backends.aws import jobs as aws_jobs
from batchmap.backends.aws import logs as aws_logs
from batchmap.backends.aws.requests import (
    MAX_ARRAY_SIZE,
    chunks,
    job_definition,
    stream_prefix,
    submit_requests,
)
from batchmap.backends.base import (
    ChildQuery,
    LogCursor,
    LogEvent,
    to_original,
    to_positions,
)
from batchmap.config.settings import Settings
from batchmap.errors import AwsRefusedError, AwsServiceError, BatchmapError, InvalidInputError
from batchmap.executions.queues import choose_queue

SUBMIT_ATTEMPTS = 6


def _normal(definition: dict[str, Any]) -> dict[str, Any]:
    """The parts of a job definition that decide whether a revision can be reused."""
    props = definition.get("containerProperties") or {}
    return {
        "image": props.get("image"),
        "command": props.get("command"),
        "jobRoleArn": props.get("jobRoleArn"),
        "resources": sorted(
            (r["type"], r["value"]) for r in props.get("resourceRequirements") or []
        ),
        "environment": sorted((e["name"], e["value"]) for e in props.get("environment") or []),
        "log": (props.get("logConfiguration") or {}).get("options"),
        "attempts": (definition.get("retryStrategy") or {}).get("attempts"),
        "timeout": definition.get("timeout"),
        "eks": definition.get("eksProperties"),
    }


class AwsBatchBackend:
    name = "aws"

    def __init__(self, clients: ClientFactory, settings: Settings, sleep: Any = time.sleep) -> None:
        self.clients = clients
        self.settings = settings
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))

    @property
    def batch(self) -> Any:
        return self.clients.client("batch")

    @property
    def region(self) -> str:
        return self.clients.region or "us-east-1"

    # -- planning -----------------------------------------------------------------------
    def _queue_platform(self, queue: str) -> bool:
        """Check the queue can take jobs; True when its compute environments are EKS."""
        with aws_call("batch:DescribeJobQueues"):
            found = self.batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
        if not found:
            raise AwsRefusedError(
                f"job queue {queue!r} does not exist in {self.region}",
                hint="check queues.executionQueues, or run 'batchmap doctor'",
            )
        detail = found[0]
        if detail.get("state", "ENABLED") != "ENABLED" or detail.get("status") == "INVALID":
            raise AwsRefusedError(
                f"job queue {queue!r} is {detail.get('state')}/{detail.get('status')}: "
                f"{detail.get('statusReason') or 'it cannot take jobs'}",
                hint="enable it in AWS Batch, or pick another queue with --queue",
            )
        names = [o["computeEnvironment"] for o in detail.get("computeEnvironmentOrder") or []]
        if not names:
            return False
        with aws_call("batch:DescribeComputeEnvironments"):
            envs = self.batch.describe_compute_environments(computeEnvironments=names)
        return any(
            e.get("containerOrchestrationType") == "EKS"
            for e in envs.get("computeEnvironments", [])
        )

    def finalize(self, plan: Any) -> dict[str, Any]:
        """Queue, checks and requests of a submission (read-only AWS calls only)."""
        if not self.settings.storage.startswith("s3://"):
            raise InvalidInputError("the aws backend needs storage: s3://BUCKET/PREFIX")
        spec = plan.plan.spec_dict()
        eks_task = spec["task"].get("platform") == "EKS"
        if not plan.iam_role_arn and not eks_task:
            raise InvalidInputError(
                "iamRoleARN is required on AWS Batch: the role the children run as",
                hint="set iamRoleARN in the exec file or pass --iamRoleARN",
            )
        choice = choose_queue(
            project=plan.project,
            domain=plan.domain,
            workflow=plan.plan.workflow,
            execution=plan.name,
            queues=self.settings.queues,
            attributes=self.settings.queue_attributes,
            explicit=plan.queue,
        )
        plan.queue, plan.queue_reason = choice.queue, choice.reason
        eks = self._queue_platform(choice.queue) or eks_task
        if plan.kube_service_account and not eks:
            plan.details.setdefault("warnings", []).append(
                "kubeServiceAcct is ignored: the queue's compute environments are not EKS"
            )
        checks = []
        if plan.iam_role_arn:
            checks = check_role(
                self.clients.client("iam"), self.clients.client("sts"), plan.iam_role_arn
            )
            failed = [c for c in checks if c.status == "fail"]
            if failed:
                raise AwsRefusedError(f"{failed[0].name}: {failed[0].message}", hint=failed[0].fix)
        plugin = self.settings.batch_plugin
        store = f"{self.settings.storage}/{plan.prefix}"
        max_array = int(plugin.get("maxArrayJobSize") or MAX_ARRAY_SIZE)
        from batchmap.executions.blobs import remote

        types = {name: spec.type for name, spec in plan.plan.inputs.items()}
        _, uploads = remote(
            types, plan.values, plan.prefix, lambda key: f"{self.settings.storage}/{key}"
        )
        flyte_run = None
        if plan.plan.flyte:
            from batchmap.flyte.command import render

            flyte_run = render(plan, store)
        return {
            "region": self.region,
            "identityChecks": [c.to_dict() for c in checks],
            **({"flyteRun": flyte_run} if flyte_run else {}),
            **({"uploads": [u.to_dict() for u in uploads]} if uploads else {}),
            "jobDefinition": job_definition(
                execution=plan.name,
                plan=spec,
                role=plan.iam_role_arn,
                service_account=plan.kube_service_account,
                log_group=self.settings.log_group,
                plugin=plugin,
                eks=eks,
                flyte_run=flyte_run,
            ),
            "submitJobs": submit_requests(
                execution=plan.name,
                project=plan.project,
                domain=plan.domain,
                plan=spec,
                size=plan.size,
                queue=choice.queue,
                inputs_uri=f"{store}/inputs.json",
                output_prefix=f"{store}/outputs",
                envs=plan.envs,
                max_array=max_array,
            ),
        }

    # -- submission ---------------------------------------------------------------------
    def _register(self, definition: dict[str, Any]) -> str:
        """Reuse the ACTIVE revision with the same content, else register a new one."""
        paginator = self.batch.get_paginator("describe_job_definitions")
        with aws_call("batch:DescribeJobDefinitions"):
            for page in paginator.paginate(
                jobDefinitionName=definition["jobDefinitionName"], status="ACTIVE"
            ):
                for existing in page["jobDefinitions"]:
                    if _normal(existing) == _normal(definition):
                        return str(existing["jobDefinitionArn"])
        with aws_call("batch:RegisterJobDefinition"):
            return str(self.batch.register_job_definition(**definition)["jobDefinitionArn"])

    def _jobs(self, plan: Any, requests: list[dict[str, Any]], ids: list[str]) -> list[dict]:
        pieces = chunks(
            plan.size, int(self.settings.batch_plugin.get("maxArrayJobSize") or MAX_ARRAY_SIZE)
        )
        return [
            {"jobId": job_id, "jobName": request["jobName"], "offset": offset, "size": size}
            for job_id, request, (offset, size) in zip(ids, requests, pieces, strict=True)
        ]

    def submit(self, plan: Any, manifest: Any, *, foreground: bool) -> dict[str, Any]:
        details = plan.details
        arn = self._register(details["jobDefinition"])
        requests = [dict(r, jobDefinition=arn) for r in details["submitJobs"]]
        ids = [self._submit_once(request) for request in requests]
        return self._submitted(plan, arn, requests, ids)

    def _submitted(
        self, plan: Any, arn: str, requests: list[dict[str, Any]], ids: list[str]
    ) -> dict[str, Any]:
        return {
            "jobDefinitionArn": arn,
            "jobs": self._jobs(plan, requests, ids),
            "logStreamPrefix": stream_prefix(plan.name),
            "logGroup": self.settings.log_group,
        }

    def _submit_once(self, request: dict[str, Any]) -> str:
        """SubmitJob exactly once. AWS Batch has no idempotency token, and a throttled,
        failed or timed-out call may still have created the job: botocore must not retry
        it blindly. After such a failure the job is looked up by name and tags, and only
        submitted again when it is not there."""
        once = self.clients.client("batch", single_attempt=True)
        delay = 1.0
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                with aws_call("batch:SubmitJob"):
                    return str(once.submit_job(**request)["jobId"])
            except AwsServiceError:
                found = self._find(request)
                if found:
                    return found
                if attempt == SUBMIT_ATTEMPTS:
                    raise
                self.sleep(delay)
                delay = min(delay * 2, 20.0)
        raise AssertionError("unreachable")

    def _find(self, request: dict[str, Any]) -> str | None:
        """The array job this request created, if any: same name, queue and batchmap tags."""
        paginator = self.batch.get_paginator("list_jobs")
        candidates = []
        with aws_call("batch:ListJobs"):
            for page in paginator.paginate(
                jobQueue=request["jobQueue"],
                filters=[{"name": "JOB_NAME", "values": [request["jobName"]]}],
            ):
                candidates += [
                    s["jobId"]
                    for s in page.get("jobSummaryList", [])
                    if s.get("jobName") == request["jobName"] and ":" not in s["jobId"]
                ]
        if not candidates:
            return None
        tags = request["tags"]
        for job in aws_jobs.describe(self.batch, candidates):
            have = job.get("tags") or {}
            if all(have.get(k) == v for k, v in tags.items()):
                return str(job["jobId"])
        return None

    def recover(self, plan: Any, manifest: Any) -> dict[str, Any] | None:
        """After a crash between SubmitJob and the manifest: find the jobs by name and tags,
        submit only the missing ones, and never a second array job for one chunk."""
        requests = plan.details["submitJobs"]
        found = {r["jobName"]: self._find(r) for r in requests}
        if not any(found.values()):
            return None
        arn = self._register(plan.details["jobDefinition"])
        requests = [dict(r, jobDefinition=arn) for r in requests]
        ids = [found[r["jobName"]] or self._submit_once(r) for r in requests]
        return self._submitted(plan, arn, requests, ids)

    def terminate(self, manifest: Any, reason: str, *, dry_run: bool = False) -> dict[str, Any]:
        """TerminateJob on every array job: AWS cancels children not yet started and stops
        running ones."""
        ids = [job["jobId"] for job in manifest.data.get("jobs") or []]
        if not dry_run:
            for job_id in ids:
                with aws_call("batch:TerminateJob"):
                    self.batch.terminate_job(jobId=job_id, reason=reason[:200])
        return {"jobs": ids}

    def cleanup(self, manifest: Any, counts: dict[str, int]) -> dict[str, Any] | None:
        """Deregister the execution's job definition revision once every child is terminal
        (best effort: never fails a command)."""
        arn = manifest.data.get("jobDefinitionArn")
        terminal = counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0)
        if not arn or manifest.data.get("jobDefinitionDeregistered") or terminal < manifest.size:
            return None
        try:
            with aws_call("batch:DeregisterJobDefinition"):
                self.batch.deregister_job_definition(jobDefinition=arn)
        except BatchmapError:
            return None
        return {"jobDefinitionDeregistered": True}

    def on_interrupt(self, manifest: Any) -> str:
        return (
            f"the execution keeps running on AWS Batch; see it with 'batchmap get execution "
            f"-p {manifest.project} -d {manifest.domain} {manifest.name}'"
        )

    # -- status and logs ----------------------------------------------------------------
    def counts(self, manifest: Any) -> dict[str, int]:
        return aws_jobs.counts(self.batch, manifest.data.get("jobs") or [])

    def counts_many(self, manifests: list[Any]) -> list[dict[str, int]]:
        return aws_jobs.counts_many(self.batch, [m.data.get("jobs") or [] for m in manifests])

    def children(self, manifest: Any, query: ChildQuery) -> list[Any]:
        children = to_original(
            manifest,
            aws_jobs.children(
                self.batch, manifest.data.get("jobs") or [], to_positions(manifest, query)
            ),
        )
        if manifest.data.get("flyteRun") and any(c.status == "FAILED" for c in children):
            from batchmap.files.store import open_store
            from batchmap.flyte.command import with_error_reasons

            store = open_store(self.settings.storage, self.clients.client("s3"))
            children = with_error_reasons(store, manifest, children)
        if any((c.reason or "").startswith("stuck in RUNNABLE") for c in children):
            queue = (manifest.data.get("queue") or {}).get("name")
            envs = self._compute_environments(queue) if queue else []
            where = f" (queue {queue}; compute environments {', '.join(envs) or 'none'})"
            children = [
                replace(c, reason=c.reason + where)
                if (c.reason or "").startswith("stuck in RUNNABLE")
                else c
                for c in children
            ]
        return children

    def _compute_environments(self, queue: str) -> list[str]:
        with aws_call("batch:DescribeJobQueues"):
            found = self.batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
        return [
            o["computeEnvironment"].rsplit("/", 1)[-1]
            for q in found
            for o in q.get("computeEnvironmentOrder") or []
        ]

    def links(self, manifest: Any) -> list[str]:
        return [
            aws_jobs.job_link(self.region, job["jobId"], job["size"] > 1)
            for job in manifest.data.get("jobs") or []
        ]

    def child_links(self, manifest: Any, child: Any) -> list[str]:
        group = manifest.data.get("logGroup") or self.settings.log_group
        return aws_jobs.child_links(self.region, group, child)

    def logs(
        self,
        manifest: Any,
        query: ChildQuery,
        cursor: LogCursor,
        *,
        attempt: int | None = None,
        since: dt.datetime | None = None,
    ) -> list[LogEvent]:
        filtered = bool(query.statuses or query.indexes)
        known = aws_jobs.streams_of(self.children(manifest, query)) if filtered else {}
        return aws_logs.read(
            self.clients.client("logs"),
            group=manifest.data.get("logGroup") or self.settings.log_group,
            prefix=(manifest.data.get("logStreamPrefix") or stream_prefix(manifest.name)) + "/",
            cursor=cursor,
            known=known,
            only_streams=filtered,
            attempt=attempt,
            since=since,
        )
