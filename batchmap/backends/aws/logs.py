"""CloudWatch log reading for an execution, at a cost that does not grow with its size.

Every child of an execution writes to a stream under one prefix
(``batchmap/<execution>/...``, set by the job definition), so one paginated
FilterLogEvents query per tick covers all children. A stream is mapped to its
child by the runtime's first line (``batchmap-task: index=17 attempt=2``), or,
when that line is older than the window, by one GetLogEvents call per new
stream — never per tick per child. Events are deduplicated by event id, and
each tick looks back a window before the newest event seen, so events that
arrive late are not lost (the bug class of ``aws logs tail``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from batchmap.aws.clients import aws_call
from batchmap.backends.base import LogCursor, LogEvent
from batchmap.errors import NotFoundError
from batchmap.runtime.child import LABEL_LINE

LOOKBACK_MS = 120_000
NAMES_PER_CALL = 100


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
    logs: Any, group: str, start: int, streams: list[str] | None, prefix: str
) -> Iterable[dict[str, Any]]:
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
                yield from page.get("events", [])


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
    covers the whole execution by prefix.
    """
    state = cursor.state
    streams: dict[str, tuple[int, int] | None] = state.setdefault("streams", {})
    streams.update(known)
    seen: dict[str, int] = state.setdefault("seen", {})
    if "start" not in state and since is not None:
        state["start"] = int(since.timestamp() * 1000)
    start = int(state.get("start", 0))
    names = sorted(known) if only_streams else None
    if only_streams and not names:
        return []
    fresh = []
    newest = start
    try:
        events = list(_filter_pages(logs, group, start, names, prefix))
    except NotFoundError:
        return []  # no child has written a line yet: the log group does not exist
    for event in events:
        stream = event.get("logStreamName", "")
        if not stream.startswith(prefix):
            continue  # moto ignores logStreamNamePrefix; AWS does not
        key = event.get("eventId") or f"{stream}/{event['timestamp']}/{event['message']}"
        if key in seen:
            continue
        seen[key] = event["timestamp"]
        newest = max(newest, event["timestamp"])
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
    window = max(start, newest - LOOKBACK_MS)
    state["start"] = window
    for key in [k for k, ts in seen.items() if ts < window]:
        del seen[key]
    return out
