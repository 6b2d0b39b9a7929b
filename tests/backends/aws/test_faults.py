"""Throttling, 5xx and lost log lines: batchmap gives the right answer anyway.

Faults are injected with a botocore ``before-send`` hook on every session (30 %
throttles, some 503s, from a seeded random source); botocore's own retry sleeps
are replaced by a fake clock so the tests run fast. These tests talk HTTP to
moto's threaded server: in-process, moto answers inside the same ``before-send``
event, so an injected failure would not mean "never sent" as it does on AWS.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

import boto3
import boto3.session
import pytest
from botocore.awsrequest import AWSResponse

from batchmap.aws.clients import RateLimiter
from batchmap.backends.aws import logs as aws_logs
from batchmap.backends.base import LogCursor
from tests.aws_account import no_real_waits, register_with_items, set_job, write_logs
from tests.conftest import Invoke

P = ("-p", "flytesnacks", "-d", "development")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object):  # type: ignore[no-untyped-def]
        yield self.body


class Faults:
    """Fail a share of AWS requests the way AWS does when it is busy."""

    def __init__(self, throttle: float = 0.3, unavailable: float = 0.05, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.throttle, self.unavailable = throttle, unavailable
        self.injected = {"throttled": 0, "unavailable": 0, "passed": 0}

    def __call__(self, request, event_name: str = "", **_):  # type: ignore[no-untyped-def]
        service = event_name.split(".")[1] if event_name.count(".") >= 1 else ""
        roll = self.random.random()
        if roll < self.throttle:
            self.injected["throttled"] += 1
            return self.throttled(request.url, service)
        if roll < self.throttle + self.unavailable:
            self.injected["unavailable"] += 1
            return self.throttled(request.url, service, status=503)
        self.injected["passed"] += 1
        return None

    @staticmethod
    def throttled(url: str, service: str, status: int | None = None) -> AWSResponse:
        """A throttling (or 503) answer in the service's own protocol."""
        if service == "s3":
            body = (
                b"<Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>"
            )
            return AWSResponse(url, 503, {}, _Raw(body))
        if service in ("iam", "sts"):
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                b"<Message>Rate exceeded</Message></Error></ErrorResponse>"
            )
            return AWSResponse(url, status or 400, {}, _Raw(body))
        code = "ThrottlingException" if service == "logs" else "TooManyRequestsException"
        body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        return AWSResponse(
            url,
            status or (400 if service == "logs" else 429),
            {"x-amzn-ErrorType": code},
            _Raw(body),
        )


@pytest.fixture
def faults(served: str, monkeypatch: pytest.MonkeyPatch) -> Faults:
    injected = Faults()
    _inject(monkeypatch, injected, ("batch", "logs", "s3", "iam", "sts"))
    return injected


def _inject(monkeypatch: pytest.MonkeyPatch, hook: Faults, services: tuple[str, ...]) -> None:
    """Put ``hook`` in front of every request of ``services`` on every new session, and
    run botocore's waits on a fake clock."""
    original = boto3.session.Session.__init__

    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        for service in services:
            self.events.register(f"before-send.{service}", hook)

    monkeypatch.setattr(boto3.session.Session, "__init__", patched)
    no_real_waits(monkeypatch)


def test_rate_limiter_paces_calls_with_a_fake_clock() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(4.0, 4, clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        limiter.acquire()
    assert limiter.waited == pytest.approx(2.0)  # 4 free, then 8 calls at 4 a second


@pytest.mark.usefixtures("aws")
def test_the_limiter_is_on_every_client() -> None:
    from batchmap.aws.clients import ClientFactory

    factory = ClientFactory(region="us-east-1")
    limiter = factory.limiters["before-call.cloudwatch-logs.FilterLogEvents"]
    now = [0.0]
    limiter.clock, limiter.last = (lambda: now[0]), 0.0
    limiter.sleep = lambda s: now.__setitem__(0, now[0] + s)
    logs = factory.client("logs")
    logs.create_log_group(logGroupName="g")
    for _ in range(8):
        logs.filter_log_events(logGroupName="g")
    assert limiter.waited == pytest.approx(1.0)


def test_create_get_and_follow_survive_30_percent_throttling(cli: Invoke, faults: Faults) -> None:
    exec_file = register_with_items(cli, 20)
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "busy", "-o", "json")
    assert created.exit_code == 0, created.stderr
    manifest = json.loads(created.stdout)
    batch = boto3.client("batch", region_name="us-east-1")
    jobs = [
        j
        for s in ("SUCCEEDED", "FAILED")
        for j in batch.list_jobs(jobQueue="critical", jobStatus=s)["jobSummaryList"]
        if ":" not in j["jobId"]
    ]
    assert [j["jobId"] for j in jobs] == [manifest["jobs"][0]["jobId"]]  # exactly one array
    parent = manifest["jobs"][0]["jobId"]
    set_job(f"{parent}:5", "FAILED", 3)
    status = cli("get", "execution", *P, "busy", "-o", "json")
    assert status.exit_code == 0, status.stderr
    data = json.loads(status.stdout)
    assert (data["status"]["succeeded"], data["status"]["failed"]) == (19, 1)
    assert "throttled by AWS" in status.stderr
    for i in range(20):
        write_logs(
            f"batchmap/busy/default/{uuid.uuid4().hex}",
            [f"batchmap-task: index={i} attempt=1", f"line {i}"],
        )
    follow = cli("logs", *P, "busy", "--follow")
    assert follow.exit_code == 0, follow.stderr  # 19 of 20 meet minSuccessRatio 0.9
    assert sorted(follow.stdout.splitlines()) == sorted(f"[{i}] line {i}" for i in range(20))
    assert faults.injected["throttled"] > 10 and faults.injected["unavailable"] > 0


@pytest.mark.usefixtures("aws")
def test_replaying_10000_events_loses_none_and_duplicates_none() -> None:
    """Events arrive in batches, some late (older than events already read): the
    follower's look-back window and event-id dedup deliver each exactly once."""
    logs = boto3.client("logs", region_name="us-east-1")
    base = int(time.time() * 1000) - 600_000
    rng = random.Random(3)
    streams = [f"batchmap/replay/default/{i:03d}" for i in range(100)]
    for index, stream in enumerate(streams):
        write_logs(stream, [f"batchmap-task: index={index} attempt=1"], start_ms=base)
    pending = [(stream, n) for stream in streams for n in range(100)]
    rng.shuffle(pending)
    cursor = LogCursor()
    received: list[str] = []

    def tick() -> list[str]:
        events = aws_logs.read(
            logs,
            group="/aws/batch/job",
            prefix="batchmap/replay/",
            cursor=cursor,
            known={},
            only_streams=False,
        )
        return [e.message for e in events]

    for start in range(0, len(pending), 1000):
        batch = sorted(pending[start : start + 1000])
        by_stream: dict[str, list[tuple[int, str]]] = {}
        for stream, n in batch:
            # timestamps up to 60 s back from this batch's time: late arrivals
            ts = base + 1000 + start * 10 + rng.randint(-60_000, 0) + n
            by_stream.setdefault(stream, []).append((max(ts, base + 1), f"{stream[-3:]}:{n}"))
        for stream, events in by_stream.items():
            events.sort()
            logs.put_log_events(
                logGroupName="/aws/batch/job",
                logStreamName=stream,
                logEvents=[{"timestamp": t, "message": m} for t, m in events],
            )
        received += tick()
    received += tick()  # the last look, after every batch arrived
    assert len(received) == 10_000
    assert len(set(received)) == 10_000  # none duplicated, none lost


@pytest.mark.usefixtures("served")
def test_a_service_error_that_outlives_the_retries_exits_6(cli: Invoke, monkeypatch) -> None:
    exec_file = register_with_items(cli, 3)
    assert cli("create", "execution", *P, "--execFile", str(exec_file), "down").exit_code == 0
    always = Faults(throttle=1.0, unavailable=0.0)
    _inject(monkeypatch, always, ("batch",))
    result = cli("get", "execution", *P, "down")
    assert result.exit_code == 6
    assert "batch:DescribeJobs: TooManyRequestsException" in result.stderr
    assert "Traceback" not in result.stderr
    Path("unused").exists()
