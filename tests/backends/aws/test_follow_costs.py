"""What a `logs --follow` read costs (moto): events downloaded, calls and their pace,
pinned as counts with a fake clock, never as time."""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchmap.aws.clients import ClientFactory
from batchmap.backends.aws import logs as aws_logs
from batchmap.backends.aws.backend import CHILD_REFRESH_SECONDS, AwsBatchBackend
from batchmap.backends.base import LogCursor, LogQuery
from batchmap.config.loader import Overrides, resolve
from batchmap.executions.manifest import Manifest, load
from batchmap.files.store import open_store
from tests.aws_account import register_with_items, set_job, write_logs
from tests.conftest import Invoke

P = ("-p", "flytesnacks", "-d", "development")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """The parameters of every call a client makes, by operation, and the events
    FilterLogEvents returned (what a read downloads)."""

    def __init__(self, *clients: Any) -> None:
        self.params: list[tuple[str, dict[str, Any]]] = []
        self.downloaded = 0
        for client in clients:
            client.meta.events.register("provide-client-params", self._params)
            client.meta.events.register("after-call.cloudwatch-logs.FilterLogEvents", self._got)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.params.append((model.name, dict(params)))

    def _got(self, parsed: dict[str, Any], **_: Any) -> None:
        self.downloaded += len(parsed.get("events", []))

    def ops(self) -> list[str]:
        return [name for name, _ in self.params]

    def clear(self) -> None:
        self.params.clear()
        self.downloaded = 0


@pytest.fixture
def follow(cli: Invoke, aws: None) -> Iterator[Any]:
    """An execution of 20 children, a backend with a fake clock, and a call recorder."""
    exec_file = register_with_items(cli, 20, name="tail")
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "tail", "-o", "json")
    parent = json.loads(created.stdout)["jobs"][0]["jobId"]
    config = resolve(Overrides(), {}, Path.cwd(), Path.home())
    clients = ClientFactory(region="us-east-1")
    clock = Clock()
    backend = AwsBatchBackend(clients, config, clock=clock)
    manifest = load(open_store(config.storage, clients.client("s3")), *P[1::2], "tail")
    recorder = Recorder(clients.client("logs"), clients.client("batch"))

    class Follow:
        pass

    f = Follow()
    f.parent, f.clock, f.backend, f.manifest, f.recorder = (
        parent,
        clock,
        backend,
        manifest,
        recorder,
    )
    yield f


def _delivered_promptly(stream: str) -> None:
    """History written by the test now, as if CloudWatch had ingested each event when it
    was written (moto stamps ingestionTime with the time of the test's put)."""
    from moto.logs.models import logs_backends

    group = logs_backends["123456789012"]["us-east-1"].groups["/aws/batch/job"]
    for event in group.streams[stream].events:
        event.ingestion_time = event.timestamp


def _streams(manifest: Manifest, n: int) -> list[str]:
    prefix = manifest.run["logStreamPrefix"]
    return [f"{prefix}/default/{uuid.uuid4().hex}" for _ in range(n)]


def test_a_follow_read_downloads_only_new_events(follow: Any) -> None:
    streams = _streams(follow.manifest, 20)
    old = int(time.time() * 1000) - 60_000
    for i, stream in enumerate(streams):  # a minute of history: 50 lines a child
        write_logs(
            stream, [f"batchmap-task: index={i} attempt=1"] + [f"old {n}" for n in range(50)], old
        )
        _delivered_promptly(stream)
    cursor = LogCursor()
    first = follow.backend.logs(follow.manifest, LogQuery(), cursor)
    assert len(first) == 20 * 50
    follow.recorder.clear()
    for i, stream in enumerate(streams):
        write_logs(stream, [f"new {i}"])
    follow.clock.now += aws_logs.pace(cursor.state)
    second = follow.backend.logs(follow.manifest, LogQuery(), cursor)
    assert sorted(e.message for e in second) == sorted(f"new {i}" for i in range(20))
    # the look-back window is seconds, not minutes: the minute-old history is not read again
    assert follow.recorder.downloaded == 20
    (start,) = [p["startTime"] for op, p in follow.recorder.params if op == "FilterLogEvents"]
    assert time.time() * 1000 - start < aws_logs.lookback_ms(cursor.state) + 5_000


def test_a_follow_reads_at_its_pace_and_always_at_the_end(follow: Any) -> None:
    cursor = LogCursor()
    follow.backend.logs(follow.manifest, LogQuery(), cursor)
    follow.recorder.clear()
    follow.clock.now += aws_logs.pace(cursor.state) - 0.5
    assert follow.backend.logs(follow.manifest, LogQuery(), cursor) == []
    assert follow.recorder.ops() == []  # too soon: no call at all
    cursor.final = True
    follow.backend.logs(follow.manifest, LogQuery(), cursor)
    assert follow.recorder.ops() == ["FilterLogEvents"]
    assert aws_logs.PACE_SECONDS[0] <= aws_logs.pace(cursor.state) <= aws_logs.PACE_SECONDS[1]


def test_the_look_back_grows_with_the_delays_seen(follow: Any) -> None:
    stream = _streams(follow.manifest, 1)[0]
    write_logs(stream, ["batchmap-task: index=0 attempt=1", "prompt"])
    cursor = LogCursor()
    follow.backend.logs(follow.manifest, LogQuery(), cursor)
    assert aws_logs.lookback_ms(cursor.state) == aws_logs.LOOKBACK_MS
    # lines that reached CloudWatch 40 s after they were written (a buffering log agent)
    late = _streams(follow.manifest, 1)[0]
    write_logs(late, ["batchmap-task: index=1 attempt=1"], int(time.time() * 1000) - 40_000)
    write_logs(late, ["from the first read on"], int(time.time() * 1000) - 40_000)
    fresh = LogCursor()  # a new follow sees the 40 s delay in its first (whole) read
    follow.backend.logs(follow.manifest, LogQuery(), fresh)
    assert aws_logs.lookback_ms(fresh.state) >= 40_000
    assert aws_logs.pace(fresh.state) == aws_logs.PACE_SECONDS[1]
    write_logs(late, ["30 s late"], int(time.time() * 1000) - 30_000)
    follow.clock.now += aws_logs.pace(fresh.state)
    events = follow.backend.logs(follow.manifest, LogQuery(), fresh)
    assert [e.message for e in events] == ["30 s late"]


def test_a_filtered_follow_describes_only_unfinished_children_and_slowly(follow: Any) -> None:
    for i in range(20):
        set_job(f"{follow.parent}:{i}", "RUNNING" if i < 3 else "SUCCEEDED", 0)
    streams = _streams(follow.manifest, 10)
    for i, stream in enumerate(streams):
        write_logs(stream, [f"batchmap-task: index={i} attempt=1", f"line {i}"])
    from moto.batch.models import batch_backends

    jobs = batch_backends["123456789012"]["us-east-1"]._jobs
    for i, stream in enumerate(streams):
        jobs[f"{follow.parent}:{i}"].log_stream_name = stream
        for attempt in jobs[f"{follow.parent}:{i}"].attempts:
            attempt["container"]["logStreamName"] = stream
    query = LogQuery(indexes=frozenset(range(10)))
    cursor = LogCursor()
    first = follow.backend.logs(follow.manifest, query, cursor)
    assert sorted(e.message for e in first) == sorted(f"line {i}" for i in range(10))
    follow.recorder.clear()
    for _ in range(3):  # reads at the log pace: no DescribeJobs, no ListJobs
        follow.clock.now += aws_logs.pace(cursor.state)
        follow.backend.logs(follow.manifest, query, cursor)
    assert set(follow.recorder.ops()) == {"FilterLogEvents"}
    follow.recorder.clear()
    follow.clock.now += CHILD_REFRESH_SECONDS
    follow.backend.logs(follow.manifest, query, cursor)
    described = [p["jobs"] for op, p in follow.recorder.params if op == "DescribeJobs"]
    assert described == [[f"{follow.parent}:{i}" for i in range(3)]]  # the 3 still running


def test_a_stream_new_to_a_filtered_follow_is_read_from_its_start(follow: Any) -> None:
    query = LogQuery(statuses=frozenset({"FAILED"}))
    cursor = LogCursor()
    assert follow.backend.logs(follow.manifest, query, cursor) == []
    stream = _streams(follow.manifest, 1)[0]
    write_logs(
        stream, ["batchmap-task: index=4 attempt=1", "early"], int(time.time() * 1000) - 90_000
    )
    write_logs(stream, ["why it failed"])
    set_job(f"{follow.parent}:4", "FAILED", 1)
    from moto.batch.models import batch_backends

    job = batch_backends["123456789012"]["us-east-1"]._jobs[f"{follow.parent}:4"]
    job.log_stream_name = stream
    for attempt in job.attempts:
        attempt["container"]["logStreamName"] = stream
    follow.clock.now += CHILD_REFRESH_SECONDS
    events = follow.backend.logs(follow.manifest, query, cursor)
    assert [(e.index, e.message) for e in events] == [(4, "early"), (4, "why it failed")]
