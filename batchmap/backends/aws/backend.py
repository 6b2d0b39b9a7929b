"""The AWS Batch backend: one execution is one array job (or several past 10,000).

``plan`` decides everything before a side effect — the queue and why, the
queue's state, the role checks, the job definition and every SubmitJob
request — so ``--dryRun`` shows exactly what ``submit`` will send. The
manifest's ``run`` record (``AwsRun``) is this backend's own.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.backends.aws import jobs as aws_jobs
from batchmap.backends.aws import logs as aws_logs
from batchmap.backends.base import (
    BackendPlan,
    Child,
    ChildQuery,
    LogCursor,
    LogEvent,
    LogQuery,
    Snapshot,
    Stopped,
    to_original,
    to_positions,
)
from batchmap.config.checks import STORAGE_HINT, backend_storage_problem
from batchmap.config.loader import Config
from batchmap.errors import AwsRefusedError, AwsServiceError, BatchmapError, InvalidInputError
from batchmap.executions.manifest import Manifest, QueueChoice
from batchmap.executions.phase import TERMINAL

if TYPE_CHECKING:
    from batchmap.executions.plan import ExecutionPlan

# Planning and submitting (IAM checks, queue rules, request building and AWS's limits) are
# imported where they are used: reading commands (get execution, logs) never need them.

SUBMIT_ATTEMPTS = 6
CHILD_REFRESH_SECONDS = 30.0  # a filtered follow re-describes its unfinished children


def _stream_prefix(execution: str) -> str:
    from batchmap.backends.aws.requests import stream_prefix

    return stream_prefix(execution)


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


@dataclass(frozen=True)
class AwsRun:
    """The manifest's ``run`` record on AWS Batch."""

    region: str
    job_definition_arn: str
    jobs: tuple[dict[str, Any], ...]  # {jobId, jobName, offset, size} per array job
    log_group: str
    log_stream_prefix: str
    deregistered: bool = False

    @classmethod
    def of(cls, manifest: Manifest, default_group: str) -> AwsRun:
        run = manifest.run
        return cls(
            region=str(run.get("region") or ""),
            job_definition_arn=str(run.get("jobDefinitionArn") or ""),
            jobs=tuple(run.get("jobs") or ()),
            log_group=str(run.get("logGroup") or default_group),
            log_stream_prefix=str(run.get("logStreamPrefix") or _stream_prefix(manifest.name)),
            deregistered=bool(run.get("jobDefinitionDeregistered")),
        )


class AwsBatchBackend:
    name = "aws"

    def __init__(
        self,
        clients: ClientFactory,
        config: Config,
        sleep: Any = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        problem = backend_storage_problem("aws", config.storage)
        if problem:
            raise InvalidInputError(problem, hint=STORAGE_HINT)
        self.clients = clients
        self.config = config
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        # Executions submitted again after a crash: their revision may exist already.
        self._resumed: set[str] = set()
        self.clock = clock  # paces a follow's reads
        self._stopped: dict[str, int] = {}  # array job -> stoppedAt, from the last counts

    @property
    def batch(self) -> Any:
        return self.clients.client("batch")

    @property
    def region(self) -> str:
        return self.clients.region_or_default

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

    def plan(self, plan: ExecutionPlan) -> BackendPlan:
        """Queue, checks and requests of a submission (read-only AWS calls only)."""
        from batchmap.aws.iam import check_role
        from batchmap.backends.aws.requests import job_definition, submit_requests
        from batchmap.executions.queues import choose_queue

        assert plan.child is not None, "the task kind's part comes first"
        spec = plan.launch_plan.spec_dict()
        eks_task = spec["task"].get("platform") == "EKS"
        if not plan.iam_role_arn and not eks_task:
            raise InvalidInputError(
                "iamRoleARN is required on AWS Batch: the role the children run as",
                hint="set iamRoleARN in the exec file or pass --iamRoleARN",
            )
        choice = choose_queue(
            project=plan.project,
            domain=plan.domain,
            workflow=plan.launch_plan.workflow,
            execution=plan.name,
            queues=self.config.queues,
            attributes=self.config.queue_attributes,
            explicit=plan.requested_queue,
        )
        eks = self._queue_platform(choice.queue) or eks_task
        warnings = []
        if plan.kube_service_account and not eks:
            warnings.append(
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
        plugin = self.config.batch_plugin
        store = f"{self.config.storage}/{plan.prefix}"
        details = {
            "region": self.region,
            "identityChecks": [c.to_dict() for c in checks],
            "jobDefinition": job_definition(
                execution=plan.name,
                plan=spec,
                child=plan.child,
                role=plan.iam_role_arn,
                service_account=plan.kube_service_account,
                log_group=self.config.log_group,
                plugin=plugin,
                eks=eks,
                region=self.region,
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
                max_array=self._max_array,
            ),
        }
        return BackendPlan(
            queue=QueueChoice(choice.queue, choice.reason),
            warnings=tuple(warnings),
            details=details,
        )

    @property
    def _max_array(self) -> int:
        from batchmap.backends.aws.requests import MAX_ARRAY_SIZE

        return int(self.config.batch_plugin.get("maxArrayJobSize") or MAX_ARRAY_SIZE)

    # -- submission ---------------------------------------------------------------------
    def _register(self, definition: dict[str, Any], *, look: bool = True) -> str:
        """Reuse the ACTIVE revision with the same content, else register a new one.

        RegisterJobDefinition is sent once per try, like SubmitJob: a revision whose
        answer was lost is found by content and reused, so revisions never pile up. A
        revision names its execution (tags, log stream prefix), so a first submission
        (``look=False``) has none to find and registers at once: the look-up would page
        through every ACTIVE revision of the launch plan for nothing."""
        found = self._registered(definition) if look else None
        if found:
            return found
        once = self.clients.client("batch", single_attempt=True)
        return self._once(
            "batch:RegisterJobDefinition",
            lambda: str(once.register_job_definition(**definition)["jobDefinitionArn"]),
            lambda: self._registered(definition),
        )

    def _registered(self, definition: dict[str, Any]) -> str | None:
        """The ACTIVE revision of the definition with the same content, if any."""
        paginator = self.batch.get_paginator("describe_job_definitions")
        with aws_call("batch:DescribeJobDefinitions"):
            for page in paginator.paginate(
                jobDefinitionName=definition["jobDefinitionName"], status="ACTIVE"
            ):
                for existing in page["jobDefinitions"]:
                    if _normal(existing) == _normal(definition):
                        return str(existing["jobDefinitionArn"])
        return None

    def _jobs(
        self, plan: ExecutionPlan, requests: list[dict[str, Any]], ids: list[str]
    ) -> list[dict[str, Any]]:
        from batchmap.backends.aws.requests import chunks

        pieces = chunks(plan.size, self._max_array)
        return [
            {"jobId": job_id, "jobName": request["jobName"], "offset": offset, "size": size}
            for job_id, request, (offset, size) in zip(ids, requests, pieces, strict=True)
        ]

    @staticmethod
    def _details(plan: ExecutionPlan) -> Any:
        assert plan.backend_plan is not None, "plan() comes before submit()"
        return plan.backend_plan.details

    def submit(
        self, plan: ExecutionPlan, manifest: Manifest, *, foreground: bool
    ) -> dict[str, Any]:
        details = self._details(plan)
        arn = self._register(details["jobDefinition"], look=plan.name in self._resumed)
        requests = [dict(r, jobDefinition=arn) for r in details["submitJobs"]]
        ids = [self._submit_once(request) for request in requests]
        return self._submitted(plan, arn, requests, ids)

    def _submitted(
        self, plan: ExecutionPlan, arn: str, requests: list[dict[str, Any]], ids: list[str]
    ) -> dict[str, Any]:
        details = self._details(plan)
        return {
            "region": details["region"],
            "identityChecks": details["identityChecks"],
            "jobDefinition": details["jobDefinition"],
            "jobDefinitionArn": arn,
            "jobs": self._jobs(plan, requests, ids),
            "logStreamPrefix": _stream_prefix(plan.name),
            "logGroup": self.config.log_group,
        }

    def _submit_once(self, request: dict[str, Any]) -> str:
        """SubmitJob exactly once. AWS Batch has no idempotency token, and a throttled,
        failed or timed-out call may still have created the job: botocore must not retry
        it blindly. After such a failure the job is looked up by name and tags, and only
        submitted again when it is not there."""
        once = self.clients.client("batch", single_attempt=True)
        return self._once(
            "batch:SubmitJob",
            lambda: str(once.submit_job(**request)["jobId"]),
            lambda: self._find(request),
        )

    def _once(self, operation: str, call: Any, find: Any) -> str:
        """Make a call that is not idempotent: one request per try and, after an ambiguous
        failure (5xx, lost answer, timeout, throttling), look for what it may have created
        before trying again. The look-up waits first: AWS's listings may lag a moment."""
        delay = 1.0
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                with aws_call(operation):
                    return str(call())
            except AwsServiceError:
                self.sleep(delay)
                delay = min(delay * 2, 20.0)
                found = find()
                if found:
                    return str(found)
                if attempt == SUBMIT_ATTEMPTS:
                    raise
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

    def recover(self, plan: ExecutionPlan, manifest: Manifest) -> dict[str, Any] | None:
        """After a crash between SubmitJob and the manifest: find the jobs by name and tags,
        submit only the missing ones, and never a second array job for one chunk."""
        details = self._details(plan)
        self._resumed.add(plan.name)  # a crash may have come after its registration
        requests = details["submitJobs"]
        found = {r["jobName"]: self._find(r) for r in requests}
        if not any(found.values()):
            return None
        arn = self._register(details["jobDefinition"])
        requests = [dict(r, jobDefinition=arn) for r in requests]
        ids = [found[r["jobName"]] or self._submit_once(r) for r in requests]
        return self._submitted(plan, arn, requests, ids)

    def _run(self, manifest: Manifest) -> AwsRun:
        return AwsRun.of(manifest, self.config.log_group)

    def terminate(
        self, manifest: Manifest, reason: str, *, dry_run: bool = False, wait: bool = True
    ) -> Stopped:
        """TerminateJob on every array job: AWS cancels children not yet started and stops
        running ones."""
        ids = tuple(job["jobId"] for job in self._run(manifest).jobs)
        if not dry_run:
            for job_id in ids:
                with aws_call("batch:TerminateJob"):
                    self.batch.terminate_job(jobId=job_id, reason=reason[:200])
        what = f"{len(ids)} array job{'s' if len(ids) != 1 else ''}" if ids else "nothing"
        return Stopped(what, ids)

    def cleanup(self, manifest: Manifest) -> dict[str, Any] | None:
        """Deregister the execution's job definition revision (best effort: never fails a
        command). Called once every child is terminal."""
        run = self._run(manifest)
        if not run.job_definition_arn or run.deregistered:
            return None
        try:
            with aws_call("batch:DeregisterJobDefinition"):
                self.batch.deregister_job_definition(jobDefinition=run.job_definition_arn)
        except BatchmapError:
            return None
        return {"jobDefinitionDeregistered": True}

    def join(self, manifest: Manifest, timeout: float | None = None) -> bool:
        return False

    def interrupt(self, manifest: Manifest) -> str:
        return (
            f"the execution keeps running on AWS Batch; see it with 'batchmap get execution "
            f"-p {manifest.project} -d {manifest.domain} {manifest.name}'"
        )

    # -- status and logs ----------------------------------------------------------------
    def counts(self, manifest: Manifest) -> dict[str, int]:
        return aws_jobs.counts(self.batch, self._run(manifest).jobs, stopped=self._stopped)

    def counts_many(self, manifests: list[Manifest]) -> list[dict[str, int]]:
        jobs = [self._run(m).jobs for m in manifests]
        return aws_jobs.counts_many(self.batch, jobs, self._stopped)

    def snapshot(self, manifest: Manifest, query: ChildQuery) -> Snapshot:
        """Counts and children from one DescribeJobs of the parents; a small map's parent
        and children described at once (one round trip)."""
        jobs = self._run(manifest).jobs
        batch = self.batch  # made here: the threads of describe_whole share it
        described = None
        if aws_jobs.one_small_array(jobs, query):
            parents, described = aws_jobs.describe_whole(batch, jobs)
        else:
            parents = aws_jobs.describe_parents(batch, jobs)
        counts = aws_jobs.counts(batch, jobs, parents, stopped=self._stopped)
        return Snapshot(counts, self._children(manifest, query, parents, described))

    def children(self, manifest: Manifest, query: ChildQuery) -> list[Child]:
        return self._children(manifest, query, None)

    def _children(
        self,
        manifest: Manifest,
        query: ChildQuery,
        parents: Mapping[str, Mapping[str, Any]] | None,
        described: list[dict[str, Any]] | None = None,
    ) -> list[Child]:
        found = aws_jobs.children(
            self.batch, self._run(manifest).jobs, to_positions(manifest, query), parents, described
        )
        children = to_original(manifest, found)
        if any((c.reason or "").startswith("stuck in RUNNABLE") for c in children):
            queue = manifest.queue.name if manifest.queue else None
            envs = self._compute_environments(queue) if queue else []
            where = f" (queue {queue}; compute environments {', '.join(envs) or 'none'})"
            children = [
                replace(c, reason=c.reason + where)
                if (c.reason or "").startswith("stuck in RUNNABLE")
                else c
                for c in children
            ]
        return children

    def statuses(self, manifest: Manifest, counts: Mapping[str, int]) -> list[str]:
        return aws_jobs.statuses(self.batch, self._run(manifest).jobs, counts, manifest.size)

    def finished_at(self, manifest: Manifest) -> dt.datetime | None:
        return aws_jobs.finished_at(self.batch, self._run(manifest).jobs, self._stopped)

    def _compute_environments(self, queue: str) -> list[str]:
        with aws_call("batch:DescribeJobQueues"):
            found = self.batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
        return [
            o["computeEnvironment"].rsplit("/", 1)[-1]
            for q in found
            for o in q.get("computeEnvironmentOrder") or []
        ]

    def links(self, manifest: Manifest) -> list[str]:
        """Flyte's "AWS Batch Job" link of each array job (today's console URL)."""
        name, link = aws_jobs.JOB_LINK_NAME, aws_jobs.job_link
        return [
            f"{name} {link(self.region, job['jobId'], job['size'] > 1)}"
            for job in self._run(manifest).jobs
        ]

    def child_links(self, manifest: Manifest, child: Child) -> list[str]:
        attempts = ((manifest.run.get("jobDefinition") or {}).get("retryStrategy") or {}).get(
            "attempts"
        )
        return aws_jobs.child_links(self.region, self._run(manifest).log_group, child, attempts)

    def logs(
        self,
        manifest: Manifest,
        query: LogQuery,
        cursor: LogCursor,
    ) -> list[LogEvent]:
        """New log events; a follow (the same cursor again) reads CloudWatch at the pace
        of ``aws_logs.pace`` and, filtered, re-describes its children more slowly still."""
        state = cursor.state
        now = self.clock()
        if "readAt" in state and not cursor.final and now - state["readAt"] < aws_logs.pace(state):
            return []
        state["readAt"] = now
        filtered = bool(query.statuses or query.indexes)
        known = self._followed(manifest, query, state, now, cursor.final) if filtered else {}
        run = self._run(manifest)
        return aws_logs.read(
            self.clients.client("logs"),
            group=run.log_group,
            prefix=run.log_stream_prefix + "/",
            cursor=cursor,
            known=known,
            only_streams=filtered,
            attempt=query.attempt,
            since=query.since,
        )

    def _followed(
        self, manifest: Manifest, query: LogQuery, state: dict[str, Any], now: float, final: bool
    ) -> dict[str, tuple[int, int]]:
        """The streams of the children a filtered read follows. They are found once; then,
        every CHILD_REFRESH_SECONDS and at the end, only children not yet terminal are
        described again (a new attempt is a new stream), and for a status filter the
        children newly in those statuses are listed."""
        children: dict[str, Child] | None = state.get("children")
        if children is None:
            found = self.children(manifest, query)
            state["children"] = {c.job_id or str(c.index): c for c in found}
            state["childrenAt"] = now
        elif final or now - state["childrenAt"] >= CHILD_REFRESH_SECONDS:
            state["childrenAt"] = now
            jobs = self._run(manifest).jobs
            listed = (
                [] if query.indexes else aws_jobs.list_in(self.batch, jobs, list(query.statuses))
            )
            ids = [
                job_id
                for job_id, child in children.items()
                if child.status not in TERMINAL and child.job_id
            ]
            ids += [job_id for job_id in listed if job_id not in children]
            for child in to_original(manifest, aws_jobs.described(self.batch, jobs, ids)):
                children[child.job_id or str(child.index)] = child
        return aws_jobs.streams_of(state["children"].values())
