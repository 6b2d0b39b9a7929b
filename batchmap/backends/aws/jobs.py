"""Reading an execution's array jobs: counts, children and console links.

Counts come from each parent's ``arrayProperties.statusSummary`` (one
DescribeJobs call for up to 100 parents, whatever the number of children).
Children are listed with ListJobs(arrayJobId, jobStatus) pages of 1,000 —
always with a status, since AWS lists only RUNNING jobs without one — and
described in batches of 100 only for the rows a view shows; a small map whose
children all fit in fewer DescribeJobs calls than that listing would take (100
children: one call instead of a ListJobs per status and a DescribeJobs) is described
whole instead.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from batchmap.aws.clients import aws_call, partition_for
from batchmap.backends.base import Attempt, Child, ChildQuery
from batchmap.executions.phase import RANK, STATUSES, empty_counts
from batchmap.overlap import both
from batchmap.times import from_ms as _ms

DESCRIBE_BATCH = 100
LIST_PAGE = 1000
# Which statuses a "non-succeeded first" view lists, in order.
VIEW_ORDER = tuple(sorted(RANK, key=RANK.__getitem__))


def batches(items: Sequence[Any], size: int = DESCRIBE_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def describe(batch: Any, job_ids: Sequence[str]) -> list[dict[str, Any]]:
    """DescribeJobs in calls of at most 100 ids (never an empty call)."""
    jobs: list[dict[str, Any]] = []
    for chunk in batches(list(job_ids)):
        with aws_call("batch:DescribeJobs"):
            jobs += batch.describe_jobs(jobs=list(chunk))["jobs"]
    return jobs


def counts(
    batch: Any,
    jobs: Sequence[Mapping[str, Any]],
    details: Mapping[str, Mapping[str, Any]] | None = None,
    stopped: dict[str, int] | None = None,
) -> dict[str, int]:
    """Children per status, summed over the execution's array jobs; ``stopped`` gets
    each stopped array job's stoppedAt (so the end of an execution costs no more call)."""
    total = empty_counts()
    if details is None:
        details = describe_parents(batch, jobs)
    if stopped is not None:
        stopped.update({i: int(d["stoppedAt"]) for i, d in details.items() if d.get("stoppedAt")})
    for job in jobs:
        detail = details.get(job["jobId"])
        if detail is None:
            total["SUBMITTED"] += job["size"]
            continue
        summary = (detail.get("arrayProperties") or {}).get("statusSummary")
        if job["size"] > 1 and summary:
            for status in STATUSES:
                total[status] += int(summary.get(status, 0))
            # A fresh parent may not have counted its children yet.
            total["SUBMITTED"] += job["size"] - sum(int(v) for v in summary.values())
        else:
            total[detail["status"]] += job["size"]
    return total


def counts_many(
    batch: Any,
    executions: Sequence[Sequence[Mapping[str, Any]]],
    stopped: dict[str, int] | None = None,
) -> list[dict[str, int]]:
    """Counts of several executions from one DescribeJobs per 100 parents."""
    ids = [job["jobId"] for jobs in executions for job in jobs]
    details = {j["jobId"]: j for j in describe(batch, ids)}
    return [counts(batch, jobs, details, stopped) for jobs in executions]


STUCK_AFTER = dt.timedelta(minutes=10)
# Likely causes of a child that stays RUNNABLE, by AWS Batch's statusReason prefix.
STUCK_CAUSES = {
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": "no compute environment of the queue can give "
    "the job its vCPUs, memory or GPUs",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": "the job needs more than the compute "
    "environment's maxvCpus",
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": "EC2 has no capacity for the instance types "
    "right now",
    "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS": "the compute environment's service role lacks "
    "permissions",
    "MISCONFIGURATION:EC2_QUOTA_EXCEEDED": "the account's EC2 quota is reached",
}


def stuck_reason(
    detail: Mapping[str, Any], now: dt.datetime, after: dt.timedelta = STUCK_AFTER
) -> str | None:
    """A flag for a child RUNNABLE longer than ``after``, with the likely cause."""
    created = _ms(detail.get("createdAt"))
    if detail.get("status") != "RUNNABLE" or created is None or now - created < after:
        return None
    minutes = int((now - created).total_seconds() // 60)
    reason = detail.get("statusReason") or ""
    cause = next((text for prefix, text in STUCK_CAUSES.items() if reason.startswith(prefix)), None)
    detail_text = (
        f"{reason}: {cause}"
        if cause
        else (reason or "AWS Batch gives no reason; check the compute environments' capacity")
    )
    return f"stuck in RUNNABLE for {minutes}m: {detail_text}"


# How Docker, containerd and Kubernetes say the container's command does not exist, as AWS
# Batch passes it on in statusReason or container.reason, e.g. 'CannotStartContainerError:
# Error response from daemon: ... exec: "python3": executable file not found in $PATH'
# (quotes sometimes escaped, the end sometimes cut off).
_MISSING_EXECUTABLE = re.compile(r'exec: \\*"(python3|batchmap-task)\\*"')


def start_failure(reason: str | None) -> str | None:
    """One line for a child whose image lacks the executable the job definition starts
    (docs/aws.md, the child contract), or None for any other reason."""
    match = _MISSING_EXECUTABLE.search(reason or "")
    if match is None:
        return None
    if match.group(1) == "python3":
        return (
            "the image has no python3, which runs batchmap's child: add Python 3.8+ to the "
            "image (examples/Dockerfile), or install batchmap in it and set "
            "task.runtime: batchmap-task"
        )
    return (
        "the image has no batchmap-task (task.runtime: batchmap-task): install batchmap in "
        "the image (examples/Dockerfile), or drop task.runtime to run the child with python3"
    )


def index_of(job_id: str, offsets: Mapping[str, int]) -> int:
    """A child's execution-wide index from its id ``<parent>:<i>`` plus its array's offset."""
    parent, _, local = job_id.rpartition(":")
    if not parent:  # a plain job (one item)
        return offsets.get(job_id, 0)
    return offsets.get(parent, 0) + int(local)


def _attempts(detail: Mapping[str, Any]) -> tuple[Attempt, ...]:
    attempts = []
    for n, raw in enumerate(detail.get("attempts") or [], start=1):
        container = raw.get("container") or {}
        attempts.append(
            Attempt(
                n,
                _ms(raw.get("startedAt")),
                _ms(raw.get("stoppedAt")),
                container.get("exitCode"),
                container.get("reason") or raw.get("statusReason"),
                container.get("logStreamName"),
            )
        )
    current = (detail.get("container") or {}).get("logStreamName")
    if (
        detail["status"] in ("STARTING", "RUNNING")
        and current
        and all(a.log != current for a in attempts)
    ):
        # The running attempt is not in attempts[] yet (flyteorg/flyte#217).
        attempts.append(
            Attempt(len(attempts) + 1, _ms(detail.get("startedAt")), None, None, None, current)
        )
    return tuple(attempts)


def child_from(
    detail: Mapping[str, Any],
    index: int,
    summary: Mapping[str, Any] | None,
    now: dt.datetime | None = None,
) -> Child:
    attempts = _attempts(detail)
    exit_code = (detail.get("container") or {}).get("exitCode")
    if exit_code is None and summary:  # moto's DescribeJobs omits it; ListJobs has it
        exit_code = (summary.get("container") or {}).get("exitCode")
    if attempts and attempts[-1].exit_code is None and exit_code is not None:
        last = attempts[-1]
        attempts = (
            *attempts[:-1],
            Attempt(
                last.number, last.started_at, last.stopped_at, exit_code, last.reason, last.log
            ),
        )
    reason = detail.get("statusReason")
    container_reason = (detail.get("container") or {}).get("reason")
    if container_reason and container_reason != reason:
        reason = f"{reason} - {container_reason}" if reason else container_reason
    reason = start_failure(reason) or reason
    reason = stuck_reason(detail, now or dt.datetime.now(dt.timezone.utc)) or reason
    return Child(index, detail["status"], attempts, reason, detail["jobId"])


def list_children(
    batch: Any, parent: str, status: str, limit: int | None
) -> Iterator[dict[str, Any]]:
    """ListJobs(arrayJobId, jobStatus), page by page, stopping at ``limit``."""
    paginator = batch.get_paginator("list_jobs")
    seen = 0
    with aws_call("batch:ListJobs"):
        for page in paginator.paginate(
            arrayJobId=parent, jobStatus=status, PaginationConfig={"PageSize": LIST_PAGE}
        ):
            for summary in page.get("jobSummaryList", []):
                yield summary
                seen += 1
                if limit is not None and seen >= limit:
                    return


def describe_parents(batch: Any, jobs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The execution's array jobs by id: one DescribeJobs per 100 (their statusSummary)."""
    return {j["jobId"]: j for j in describe(batch, [job["jobId"] for job in jobs])}


def statuses(
    batch: Any, jobs: Sequence[Mapping[str, Any]], counts: Mapping[str, int], size: int
) -> list[str]:
    """Every child's status by position: the most common status (from ``counts``) fills
    the list and only the other statuses are listed (ListJobs summaries, no DescribeJobs),
    so a map of 10,000 mostly-succeeded children costs a call or two per status."""
    common = max(STATUSES, key=lambda s: counts.get(s, 0))
    result = [common] * size
    offsets = {job["jobId"]: job["offset"] for job in jobs}
    for status in STATUSES:
        if status == common or not counts.get(status):
            continue
        for job in jobs:
            if job["size"] == 1:
                continue  # a plain job: its status is in the counts
            for summary in list_children(batch, job["jobId"], status, None):
                index = index_of(summary["jobId"], offsets)
                if 0 <= index < size:
                    result[index] = status
    return result


def finished_at(
    batch: Any, jobs: Sequence[Mapping[str, Any]], stopped: Mapping[str, int]
) -> dt.datetime | None:
    """When the last array job stopped: from the counts just read (``stopped``), else one
    DescribeJobs per 100 jobs."""
    ids = [j["jobId"] for j in jobs]
    if not all(i in stopped for i in ids):
        stopped = {d["jobId"]: d.get("stoppedAt") for d in describe(batch, ids)}
    stops = [_ms(stopped.get(i)) for i in ids]
    return max((s for s in stops if s is not None), default=None)


def one_small_array(jobs: Sequence[Mapping[str, Any]], query: ChildQuery) -> bool:
    """Whether a view of every status reads every child of the execution anyway: one array
    job whose children fit one DescribeJobs (``children`` then describes it whole), so the
    parent and the children can be described at once (``describe_whole``)."""
    return (
        not query.indexes
        and not query.statuses
        and len(jobs) == 1
        and 1 < jobs[0]["size"] <= DESCRIBE_BATCH
    )


def describe_whole(
    batch: Any, jobs: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The parents and every child of ``one_small_array`` jobs, the two DescribeJobs calls
    made at once (one round trip)."""
    parents, whole = both(
        lambda: describe_parents(batch, jobs),
        lambda: describe(batch, [i for job in jobs for i in _ids(job)]),
    )
    return parents, whole.value()


def children(
    batch: Any,
    jobs: Sequence[Mapping[str, Any]],
    query: ChildQuery,
    parents: Mapping[str, Mapping[str, Any]] | None = None,
    described: list[dict[str, Any]] | None = None,
) -> list[Child]:
    """The children a view asked for, non-succeeded first, described only as needed.

    ``parents`` (from ``describe_parents``) saves describing them again when the caller
    has just done so for the counts; ``described``, every child's description
    (``describe_whole``), saves describing any."""
    offsets = {job["jobId"]: job["offset"] for job in jobs}
    summaries: dict[str, dict[str, Any] | None] = {}
    if described is None:
        summaries = _to_describe(batch, jobs, query, parents)
        described = describe(batch, list(summaries))
    result = []
    for detail in described:
        child = child_from(
            detail, index_of(detail["jobId"], offsets), summaries.get(detail["jobId"])
        )
        if (not query.statuses or child.status in query.statuses) and (
            not query.indexes or child.index in query.indexes
        ):
            result.append(child)
    result.sort(key=lambda c: (RANK.get(c.status, 9), c.index))
    return result[: query.limit] if query.limit is not None else result


def _to_describe(
    batch: Any,
    jobs: Sequence[Mapping[str, Any]],
    query: ChildQuery,
    parents: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any] | None]:
    """The ids of the children to describe (with their ListJobs summary when listed)."""
    summaries: dict[str, dict[str, Any] | None] = {}
    if query.indexes:
        for index in sorted(query.indexes):
            for job in jobs:
                if job["offset"] <= index < job["offset"] + job["size"]:
                    summaries[child_id(job, index - job["offset"])] = None
    else:
        wanted = [s for s in VIEW_ORDER if not query.statuses or s in query.statuses]
        # One DescribeJobs of the parents says which statuses each array has children in,
        # so ListJobs is called only where there is something to list.
        arrays = [j for j in jobs if j["size"] > 1]
        if parents is None:
            parents = describe_parents(batch, arrays)
        counts_by_parent = {
            j["jobId"]: ((parents.get(j["jobId"]) or {}).get("arrayProperties") or {}).get(
                "statusSummary"
            )
            for j in arrays
        }
        if _whole_is_cheaper(jobs, wanted, counts_by_parent, query.limit):
            summaries = {job_id: None for job in jobs for job_id in _ids(job)}
            wanted = []
        for status in wanted:
            for job in jobs:
                remaining = None if query.limit is None else query.limit - len(summaries)
                if remaining is not None and remaining <= 0:
                    break
                if job["size"] == 1:
                    summaries.setdefault(job["jobId"], None)
                    continue
                summary_counts = counts_by_parent.get(job["jobId"])
                if summary_counts and not summary_counts.get(status):
                    continue
                for summary in list_children(batch, job["jobId"], status, remaining):
                    summaries[summary["jobId"]] = summary
    return summaries


def child_id(job: Mapping[str, Any], local: int) -> str:
    """The job id of child ``local`` of an array job (a plain job is its own only child)."""
    return str(job["jobId"]) if job["size"] == 1 else f"{job['jobId']}:{local}"


def _ids(job: Mapping[str, Any]) -> list[str]:
    """Every child of an array job."""
    return [child_id(job, i) for i in range(job["size"])]


def _whole_is_cheaper(
    jobs: Sequence[Mapping[str, Any]],
    wanted: Sequence[str],
    counts_by_parent: Mapping[str, Mapping[str, Any] | None],
    limit: int | None,
) -> bool:
    """Whether describing every child takes no more calls than listing the wanted ones
    (a ListJobs per array and status it reaches, until ``limit``) and describing those."""
    whole = sum(-(-job["size"] // DESCRIBE_BATCH) for job in jobs)
    lists, rows = 0, 0
    for status in wanted:
        for job in jobs:
            if limit is not None and rows >= limit:
                break
            if job["size"] == 1:
                rows += 1
                continue
            summary = counts_by_parent.get(job["jobId"])
            if summary and not summary.get(status):
                continue
            lists += 1
            rows += int(summary.get(status, 0)) if summary else job["size"]
    shown = rows if limit is None else min(rows, limit)
    return whole <= lists + -(-shown // DESCRIBE_BATCH)


def list_in(batch: Any, jobs: Sequence[Mapping[str, Any]], statuses: Sequence[str]) -> list[str]:
    """Ids of the children now in these statuses (ListJobs pages; plain jobs by describe)."""
    wanted = set(statuses)
    ids = [
        summary["jobId"]
        for status in VIEW_ORDER
        if status in wanted
        for job in jobs
        if job["size"] > 1
        for summary in list_children(batch, job["jobId"], status, None)
    ]
    plain = [job["jobId"] for job in jobs if job["size"] == 1]
    ids += [d["jobId"] for d in describe(batch, plain) if d["status"] in wanted]
    return ids


def described(batch: Any, jobs: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> list[Child]:
    """These children (ids ``<parent>:<i>`` or plain job ids), described, 100 a call."""
    offsets = {job["jobId"]: job["offset"] for job in jobs}
    return [
        child_from(detail, index_of(detail["jobId"], offsets), None)
        for detail in describe(batch, list(ids))
    ]


# --- console links ------------------------------------------------------------------------


def _console(region: str) -> str:
    partition = partition_for(region)
    if partition == "aws-cn":
        return f"https://{region}.console.amazonaws.cn"
    if partition == "aws-us-gov":
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def job_link(region: str, job_id: str, array: bool) -> str:
    kind = "array-job" if array else "detail"
    return f"{_console(region)}/batch/home?region={region}#jobs/{kind}/{job_id}"


def _encode(text: str) -> str:
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def stream_link(region: str, group: str, stream: str) -> str:
    return (
        f"{_console(region)}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"{_encode(group)}/log-events/{_encode(stream)}"
    )


# The names Flyte Console shows, from the aws_array plugin (flyteplugins
# array/awsbatch/task_links.go): "AWS Batch Job" for the array job, and per child and
# attempt "AWS Batch #<original index>-<attempt, from 0> (<phase>)", the phase being the
# plugin's for the child (jobPhaseToPluginsPhase; a FAILED child that used all its attempts
# is PhasePermanentFailure), the same for all its attempts, as the plugin marks them.
JOB_LINK_NAME = "AWS Batch Job"
PLUGIN_PHASES = {
    "SUBMITTED": "PhaseQueued",
    "PENDING": "PhaseQueued",
    "RUNNABLE": "PhaseQueued",
    "STARTING": "PhaseQueued",
    "RUNNING": "PhaseRunning",
    "SUCCEEDED": "PhaseSuccess",
    "FAILED": "PhaseRetryableFailure",
}


def plugin_phase(child: Child, attempts: int | None) -> str:
    """The aws_array plugin's phase of a child (``attempts``: the retry strategy's)."""
    if child.status == "FAILED" and attempts is not None and len(child.attempts) >= attempts:
        return "PhasePermanentFailure"
    return PLUGIN_PHASES.get(child.status, "PhaseUndefined")


def child_links(region: str, group: str, child: Child, attempts: int | None = None) -> list[str]:
    """Flyte's per-attempt log links: ``AWS Batch #<index>-<attempt> (<phase>) <url>``,
    with today's CloudWatch console URL (Flyte's is the retired ``logEventViewer`` one)."""
    phase = plugin_phase(child, attempts)
    return [
        f"AWS Batch #{child.index}-{attempt.number - 1} ({phase}) "
        f"{stream_link(region, group, attempt.log)}"
        for attempt in child.attempts
        if attempt.log
    ]


def streams_of(children_: Iterable[Child]) -> dict[str, tuple[int, int]]:
    """log stream -> (index, attempt) for the children a log reader follows."""
    return {a.log: (c.index, a.number) for c in children_ for a in c.attempts if a.log}
