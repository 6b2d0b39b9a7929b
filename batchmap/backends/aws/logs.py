"""CloudWatch log reading for an execution, at a cost that does not grow with its size.

Every child of an execution writes to a stream under one prefix
(``batchmap/<execution>/...``, set by the job definition), so one paginated
FilterLogEvents query per read covers all children. A stream is mapped to its
child by the runtime's first line (``batchmap-task: index=17 attempt=2``), or,
when that line is older than the window, by one GetLogEvents call per new
stream — never per read per child.

A follow reads only what is new. CloudWatch cannot be asked for "events since the
last read" (FilterLogEvents filters by the events' own timestamps), and an event can
become readable some seconds after its timestamp: docker's awslogs driver, which AWS
Batch uses, sends each stream's lines every 5 s, then CloudWatch ingests them. So each
read looks back from the previous read's time (the service's clock, from the response's
Date header) by the largest delay seen so far between an event's timestamp and its
``ingestionTime``, plus 1 s for indexing, and at least ``LOOKBACK_MS`` (6 s: the
driver's 5 s and that second); events already delivered are dropped by event id. An
event later than that is the one thing this can miss, and the look-back grows as soon
as such a delay is seen. Reading more often than the look-back would download the
same window again and again, so a follow reads every look-back (``pace``): each read
downloads at most one window it has seen besides what is new, whatever the number of
children — and, like ``aws logs tail --follow``, at most every 5 s or so, well inside
FilterLogEvents' account-wide quota.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from batchmap.aws.clients import aws_call
from batchmap.backends.base import LogCursor, LogEvent
from batchmap.errors import NotFoundError
from batchmap.runtime.child import LABEL_LINE

LOOKBACK_MS = 6_000  # docker's awslogs driver flushes every 5 s (batchPublishFrequency), +1 s
INDEXING_MS = 1_000  # added to the largest delay seen: CloudWatch indexes what it ingested
PACE_SECONDS = (5.0, 10.0)  # a follow reads every look-back, within these bounds
NAMES_PER_CALL = 100


def lookback_ms(state: Mapping[str, Any]) -> int:
    """How far before the previous read a read looks: the largest delay seen between an
    event's timestamp and its ingestion, plus indexing time, and at least LOOKBACK_MS."""
    return max(LOOKBACK_MS, int(state.get("lag", 0)) + INDEXING_MS)


def pace(state: Mapping[str, Any]) -> float:
    """Seconds between two reads of a follow: its look-back, within PACE_SECONDS."""
    low, high = PACE_SECONDS
    return min(high, max(low, lookback_ms(state) / 1000))


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


def _first_line(logs: Any, group: str, stream: str) -> tuple[int, int] | None:
    with aws_call("logs:GetLogEvents"):
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream, startFromHead=True, limit=1
        ).get("events", [])
    match = LABEL_LINE.match(events[0]["message"]) if events else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _filter_pages(
    logs: Any,
    group: str,
    start: int,
    streams: list[str] | None,
    prefix: str,
    clock: list[int],
) -> Iterable[dict[str, Any]]:
    """Every event of the query; ``clock`` gets the service's time of the first response
    (its Date header, in ms, rounded down to the second)."""
    paginator = logs.get_paginator("filter_log_events")
    calls: list[dict[str, Any]] = []
    if streams is None:
        calls.append({"logStreamNamePrefix": prefix})
    else:
        calls += [
            {"logStreamNames": streams[i : i + NAMES_PER_CALL]}
            for i in range(0, len(streams), NAMES_PER_CALL)
        ]
    for extra in calls:
        with aws_call("logs:FilterLogEvents"):
            for page in paginator.paginate(logGroupName=group, startTime=start, **extra):
                if not clock:
                    clock.append(_service_ms(page))
                yield from page.get("events", [])


def _service_ms(page: Mapping[str, Any]) -> int:
    """The service's clock at a response (its Date header), else this machine's."""
    header = ((page.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}).get("date")
    try:
        return int(parsedate_to_datetime(header).timestamp() * 1000)
    except (TypeError, ValueError):
        return int(time.time() * 1000)


def read(
    logs: Any,
    *,
    group: str,
    prefix: str,
    cursor: LogCursor,
    known: Mapping[str, tuple[int, int]],
    only_streams: bool,
    attempt: int | None = None,
    since: dt.datetime | None = None,
) -> list[LogEvent]:
    """New events since ``cursor``, in time order, each once.

    ``known`` maps streams to (index, attempt) from DescribeJobs; with
    ``only_streams`` the query names those streams (a filtered view), else it
    covers the whole execution by prefix. A named stream is read from the
    beginning (or ``since``) the first time, then with the others.
    """
    state = cursor.state
    streams: dict[str, tuple[int, int] | None] = state.setdefault("streams", {})
    streams.update(known)
    seen: dict[str, int] = state.setdefault("seen", {})
    origin = int(since.timestamp() * 1000) if since is not None else 0
    start = int(state.setdefault("start", origin))
    clock: list[int] = []
    queries: list[tuple[int, list[str] | None]] = [(start, None)]
    if only_streams:
        read_before: list[str] = state.setdefault("named", [])
        old = sorted(name for name in known if name in read_before)
        new = sorted(name for name in known if name not in read_before)
        queries = [(start, old), (origin, new)]
        read_before += new
    fresh = []
    for query_start, names in queries:
        if names is not None and not names:
            continue
        try:
            events = list(_filter_pages(logs, group, query_start, names, prefix, clock))
        except NotFoundError:
            continue  # no child has written a line yet: the log group does not exist
        for event in events:
            stream = event.get("logStreamName", "")
            if not stream.startswith(prefix):
                continue  # moto ignores logStreamNamePrefix; AWS does not
            key = event.get("eventId") or f"{stream}/{event['timestamp']}/{event['message']}"
            if key in seen:
                continue
            seen[key] = event["timestamp"]
            lag = int(event.get("ingestionTime") or event["timestamp"]) - event["timestamp"]
            state["lag"] = max(int(state.get("lag", 0)), lag)
            fresh.append(event)
    out = []
    for event in sorted(fresh, key=lambda e: (e["timestamp"], e.get("eventId", ""))):
        stream = event["logStreamName"]
        match = LABEL_LINE.match(event["message"])
        if match:
            streams[stream] = (int(match.group(1)), int(match.group(2)))
            continue  # the runtime's label line is not part of the child's output
        if stream not in streams:
            streams[stream] = _first_line(logs, group, stream)
        label = streams[stream]
        if label is None or (attempt is not None and label[1] != attempt):
            continue
        out.append(
            LogEvent(
                label[0],
                label[1],
                event["message"].rstrip("\n"),
                _ts(event["timestamp"]),
                event.get("eventId"),
            )
        )
    if clock:  # the next read starts one look-back before this one (service's clock)
        window = max(start, clock[0] - 1000 - lookback_ms(state))
        state["start"] = window
        for key in [k for k, ts in seen.items() if ts < window]:
            del seen[key]
    return out
