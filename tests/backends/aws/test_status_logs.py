"""get execution and logs on AWS Batch (moto): counts, children in mixed states, links,
outputs, log labelling, late events, and --follow ending by itself."""

import json
import time
import uuid

import boto3
import pytest

from batchmap.backends.aws import jobs as aws_jobs
from batchmap.backends.aws import logs as aws_logs
from batchmap.backends.base import LogCursor
from tests.aws_account import register_with_items, set_job, write_logs
from tests.conftest import Invoke

P = ("-p", "flytesnacks", "-d", "development")


def submit(cli: Invoke, n: int, name: str, plan: str = "squares") -> str:
    exec_file = register_with_items(cli, n, name=plan)
    result = cli("create", "execution", *P, "--execFile", str(exec_file), name, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["jobs"][0]["jobId"]


@pytest.mark.usefixtures("aws")
def test_mixed_states_failures_first_with_exit_codes(cli: Invoke) -> None:
    parent = submit(cli, 100, "mixed")
    set_job(f"{parent}:3", "FAILED", 137, "OutOfMemoryError: Container killed due to memory usage")
    set_job(f"{parent}:17", "FAILED", 1, "Essential container in task exited")
    set_job(f"{parent}:42", "RUNNING")
    set_job(f"{parent}:43", "RUNNABLE")
    set_job(parent, "PENDING")
    result = cli("get", "execution", *P, "mixed", "--limit", "4", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == {
        "phase": "RUNNING",
        "succeeded": 96,
        "failed": 2,
        "running": 1,
        "queued": 1,
        "total": 100,
        "minSuccesses": 90,
    }
    rows = [(c["index"], c["status"], c["exitCode"]) for c in data["children"]]
    assert rows == [
        (3, "FAILED", 137),
        (17, "FAILED", 1),
        (42, "RUNNING", None),
        (43, "RUNNABLE", None),
    ]
    assert "OutOfMemoryError" in data["children"][0]["reason"]
    only = json.loads(
        cli("get", "execution", *P, "mixed", "--index", "17,50-51", "-o", "json").stdout
    )
    assert [(c["index"], c["status"]) for c in only["children"]] == [
        (17, "FAILED"),
        (50, "SUCCEEDED"),
        (51, "SUCCEEDED"),
    ]
    table = cli("get", "execution", *P, "mixed", "--status", "FAILED")
    assert "batch/home?region=us-east-1#jobs/array-job/" + parent in table.stdout
    assert "OutOfMemoryError" in table.stdout
    listed = cli("get", "execution", *P, "-o", "json")
    assert json.loads(listed.stdout)[0]["status"]["failed"] == 2


@pytest.mark.usefixtures("aws")
def test_failing_below_the_ratio_is_failed_early(cli: Invoke) -> None:
    parent = submit(cli, 10, "early")
    set_job(f"{parent}:0", "FAILED", 2)
    set_job(f"{parent}:1", "FAILED", 2)
    for i in range(2, 10):
        set_job(f"{parent}:{i}", "RUNNING")
    data = json.loads(cli("get", "execution", *P, "early", "-o", "json").stdout)
    assert data["status"]["phase"] == "FAILED"  # 8 can still succeed, 9 are needed
    watched = cli("get", "execution", *P, "early", "--watch")
    assert watched.exit_code == 7


@pytest.mark.usefixtures("aws")
def test_logs_are_labelled_by_index_and_cover_every_child(cli: Invoke) -> None:
    submit(cli, 3, "logged")
    for i in range(3):
        stream = f"batchmap/logged/default/{uuid.uuid4().hex}"
        write_logs(
            stream,
            [
                f"batchmap-task: index={i} attempt=1 size=3 execution=logged",
                f"hello from {i}",
                f"bye from {i}",
            ],
        )
    write_logs(
        f"batchmap/other/default/{uuid.uuid4().hex}",
        ["batchmap-task: index=0 attempt=1", "not ours"],
    )
    result = cli("logs", *P, "logged")
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(
        f"[{i}] {w} from {i}" for i in range(3) for w in ("hello", "bye")
    )
    as_json = [
        json.loads(line)
        for line in cli("logs", *P, "logged", "-o", "json").stdout.split("\n")
        if line
    ]
    assert {(e["index"], e["attempt"]) for e in as_json} == {(0, 1), (1, 1), (2, 1)}
    assert all(e["timestamp"].endswith("Z") for e in as_json)
    follow = cli("logs", *P, "logged", "--follow", "--tail", "1")
    assert follow.exit_code == 0  # moto finished every child: the tail ends by itself
    assert "[2] bye from 2" in follow.stdout


@pytest.mark.usefixtures("aws")
def test_a_stream_is_labelled_from_its_first_line_when_outside_the_window() -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    stream = "batchmap/e/default/abc"
    now = int(time.time() * 1000)
    write_logs(stream, ["batchmap-task: index=7 attempt=2"], start_ms=now - 600_000)
    write_logs(stream, ["late line"], start_ms=now)
    cursor = LogCursor({"start": now - 300_000})
    events = aws_logs.read(
        logs,
        group="/aws/batch/job",
        prefix="batchmap/e/",
        cursor=cursor,
        known={},
        only_streams=False,
    )
    assert [(e.index, e.attempt, e.message) for e in events] == [(7, 2, "late line")]


@pytest.mark.usefixtures("aws")
def test_late_events_inside_the_look_back_window_are_not_lost_nor_duplicated() -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    stream_a, stream_b = "batchmap/w/default/a", "batchmap/w/default/b"
    base = int(time.time() * 1000) - 60_000
    write_logs(stream_a, ["batchmap-task: index=0 attempt=1", "a1"], start_ms=base)
    write_logs(stream_b, ["batchmap-task: index=1 attempt=1"], start_ms=base)
    cursor = LogCursor()
    first = aws_logs.read(
        logs,
        group="/aws/batch/job",
        prefix="batchmap/w/",
        cursor=cursor,
        known={},
        only_streams=False,
    )
    assert [e.message for e in first] == ["a1"]
    write_logs(stream_a, ["a2"], start_ms=base + 500)
    write_logs(stream_b, ["b-late"], start_ms=base + 100)  # older than a2, arrives later
    second = aws_logs.read(
        logs,
        group="/aws/batch/job",
        prefix="batchmap/w/",
        cursor=cursor,
        known={},
        only_streams=False,
    )
    assert [e.message for e in second] == ["b-late", "a2"]
    assert (
        aws_logs.read(
            logs,
            group="/aws/batch/job",
            prefix="batchmap/w/",
            cursor=cursor,
            known={},
            only_streams=False,
        )
        == []
    )


@pytest.mark.usefixtures("aws")
def test_outputs_in_index_order_with_null_for_missing(cli: Invoke) -> None:
    submit(cli, 4, "outs")
    s3 = boto3.client("s3", region_name="us-east-1")
    for i, value in ((0, 0), (1, 1), (3, 9)):
        s3.put_object(
            Bucket="bm-bucket",
            Key=f"store/flytesnacks/development/outs/outputs/{i}.json",
            Body=json.dumps(value).encode(),
        )
    result = cli("get", "execution", *P, "outs", "--outputs", "-o", "json")
    assert json.loads(result.stdout) == [0, 1, None, 9]


def test_console_links_for_every_partition() -> None:
    assert aws_jobs.job_link("us-east-1", "abc", True) == (
        "https://us-east-1.console.aws.amazon.com/batch/home?region=us-east-1#jobs/array-job/abc"
    )
    assert aws_jobs.job_link("cn-north-1", "abc", False).startswith(
        "https://cn-north-1.console.amazonaws.cn/batch/home?region=cn-north-1#jobs/detail/abc"
    )
    assert aws_jobs.job_link("us-gov-west-1", "abc", True).startswith(
        "https://console.amazonaws-us-gov.com/batch/home?region=us-gov-west-1"
    )
    assert aws_jobs.stream_link("us-east-1", "/aws/batch/job", "batchmap/e/default/x") == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:"
        "log-groups/log-group/$252Faws$252Fbatch$252Fjob/log-events/"
        "batchmap$252Fe$252Fdefault$252Fx"
    )


def test_child_link_names_are_the_aws_array_plugins() -> None:
    """task_links.go: "AWS Batch #<original index>-<attempt from 0> (<plugin phase>)", every
    attempt marked with the child's final phase; PhasePermanentFailure once a FAILED child
    used all the attempts of its retry strategy."""
    from batchmap.backends.base import Attempt, Child

    def names(child: Child, attempts: int | None = 2) -> list[str]:
        links = aws_jobs.child_links("us-east-1", "/aws/batch/job", child, attempts)
        return [link.split(" https://")[0] for link in links]

    spent = Child(7, "FAILED", (Attempt(1, log="s/a"), Attempt(2, log="s/b")))
    assert names(spent) == [
        "AWS Batch #7-0 (PhasePermanentFailure)",
        "AWS Batch #7-1 (PhasePermanentFailure)",
    ]
    assert names(Child(7, "FAILED", (Attempt(1, log="s/a"),))) == [
        "AWS Batch #7-0 (PhaseRetryableFailure)"
    ]
    assert names(Child(3, "RUNNING", (Attempt(1, log="s/c"),))) == ["AWS Batch #3-0 (PhaseRunning)"]
    assert names(Child(4, "STARTING", (Attempt(1, log="s/d"),))) == ["AWS Batch #4-0 (PhaseQueued)"]
    assert names(Child(5, "SUCCEEDED", (Attempt(1), Attempt(2, log="s/e")))) == [
        "AWS Batch #5-1 (PhaseSuccess)"  # an attempt without a stream has no link
    ]
    link = aws_jobs.child_links("us-east-1", "/aws/batch/job", spent, 2)[0]
    assert link.endswith(aws_jobs.stream_link("us-east-1", "/aws/batch/job", "s/a"))


def _count_calls(client) -> dict[str, int]:
    calls: dict[str, int] = {}

    def hook(model, **kwargs):  # type: ignore[no-untyped-def]
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call", hook)
    return calls


@pytest.mark.usefixtures("aws")
def test_a_follow_tick_costs_the_same_for_10_and_10000_children(cli: Invoke) -> None:
    from pathlib import Path

    from batchmap.aws.clients import ClientFactory
    from batchmap.backends.aws.backend import AwsBatchBackend
    from batchmap.config.loader import Overrides, resolve
    from batchmap.executions.manifest import load
    from batchmap.files.store import open_store

    costs = []
    for n, name in ((10, "small"), (10_000, "large")):
        submit(cli, n, name, plan=name)
        config = resolve(Overrides(), {}, Path.cwd(), Path.home())
        clients = ClientFactory(region="us-east-1")
        calls = _count_calls(clients.client("batch"))
        log_calls = _count_calls(clients.client("logs"))
        backend = AwsBatchBackend(clients, config)
        manifest = load(
            open_store(config.storage, clients.client("s3")), "flytesnacks", "development", name
        )
        from batchmap.backends.base import LogQuery

        cursor = LogCursor()
        backend.logs(manifest, LogQuery(), cursor)  # first tick
        calls.clear()
        log_calls.clear()
        backend.counts(manifest)
        backend.logs(manifest, LogQuery(), cursor)
        costs.append(sum(calls.values()) + sum(log_calls.values()))
    assert costs[0] == costs[1] <= 3


def test_stuck_runnable_children_are_flagged_with_the_likely_cause() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    created = int((now - dt.timedelta(minutes=25)).timestamp() * 1000)
    detail = {
        "status": "RUNNABLE",
        "createdAt": created,
        "statusReason": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - no CE fits",
    }
    reason = aws_jobs.stuck_reason(detail, now)
    assert reason.startswith("stuck in RUNNABLE for 25m: MISCONFIGURATION:JOB_RESOURCE")
    assert "vCPUs, memory or GPUs" in reason
    assert aws_jobs.stuck_reason({**detail, "createdAt": int(now.timestamp() * 1000)}, now) is None
    assert aws_jobs.stuck_reason({**detail, "status": "RUNNING"}, now) is None


@pytest.mark.usefixtures("aws")
def test_stuck_children_name_the_queue_and_compute_environments(cli: Invoke) -> None:
    import datetime as dt

    from moto.batch.models import batch_backends

    parent = submit(cli, 3, "stuck")
    set_job(f"{parent}:1", "RUNNABLE")
    job = batch_backends["123456789012"]["us-east-1"]._jobs[f"{parent}:1"]
    job.job_created_at = dt.datetime.now() - dt.timedelta(hours=2)
    data = json.loads(
        cli("get", "execution", *P, "stuck", "--status", "RUNNABLE", "-o", "json").stdout
    )
    (child,) = data["children"]
    assert child["reason"].startswith("stuck in RUNNABLE for 1")
    assert "(queue critical; compute environments spot-ce)" in child["reason"]


@pytest.mark.usefixtures("aws")
def test_logs_since(cli: Invoke) -> None:
    submit(cli, 2, "since")
    now = int(time.time() * 1000)
    write_logs(
        "batchmap/since/default/a",
        ["batchmap-task: index=0 attempt=1", "old"],
        start_ms=now - 3_600_000,
    )
    write_logs(
        "batchmap/since/default/b",
        ["batchmap-task: index=1 attempt=1", "new"],
        start_ms=now - 60_000,
    )
    assert cli("logs", *P, "since", "--since", "30m").stdout.splitlines() == ["[1] new"]
    assert len(cli("logs", *P, "since").stdout.splitlines()) == 2
    bad = cli("logs", *P, "since", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.stderr


@pytest.mark.usefixtures("aws")
def test_throttling_is_shown_and_survived(cli: Invoke, monkeypatch) -> None:
    """AWS throttles DescribeJobs: the command says so on stderr and still answers."""
    import boto3.session
    from botocore.awsrequest import AWSResponse

    submit(cli, 5, "slow")

    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_):  # type: ignore[no-untyped-def]
            yield self.body

    left = [2]

    def throttle(request, **_):  # type: ignore[no-untyped-def]
        if left[0] <= 0:
            return None
        left[0] -= 1
        body = json.dumps(
            {"__type": "TooManyRequestsException", "message": "Too Many Requests"}
        ).encode()
        return AWSResponse(
            request.url, 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, Raw(body)
        )

    original = boto3.session.Session.__init__

    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        self.events.register("before-send.batch.DescribeJobs", throttle)

    monkeypatch.setattr(boto3.session.Session, "__init__", patched)
    result = cli("get", "execution", *P, "slow", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "throttled by AWS on batch:DescribeJobs, retrying" in result.stderr
    assert json.loads(result.stdout)["status"]["succeeded"] == 5
    assert left[0] == 0
