"""Parsing of the child selectors `--index 3,17-20` and `--status FAILED,RUNNING`."""

from __future__ import annotations

import datetime as dt

from batchmap import times
from batchmap.errors import UsageError
from batchmap.executions.phase import STATUSES
from batchmap.files.schemas import did_you_mean

MAX_INDEXES = 100_000_000


def parse_indexes(text: str | None, size: int | None = None) -> frozenset[int]:
    if not text:
        return frozenset()
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if first < 0 or first > last:
                raise ValueError
        except ValueError:
            raise UsageError(
                f"--index: {part!r} is not an index or a range such as 17-20"
            ) from None
        bound = size if size is not None else MAX_INDEXES
        if last >= bound:  # checked before the range is built: 0-999999999999 costs nothing
            raise UsageError(
                f"--index: {last} is out of range: the map has {size} children (0-{size - 1})"
                if size is not None
                else f"--index: {last} is out of range (batchmap maps hold at most "
                f"{MAX_INDEXES:,} children)"
            )
        out.update(range(first, last + 1))
    return frozenset(out)


def parse_statuses(values: list[str] | None) -> frozenset[str]:
    out = set()
    for value in values or []:
        for part in value.split(","):
            status = part.strip().upper()
            if status not in STATUSES:
                raise UsageError(
                    f"--status: unknown status {part!r} (one of {', '.join(STATUSES)})",
                    hint=did_you_mean(status, list(STATUSES)),
                )
            out.add(status)
    return frozenset(out)


def parse_since(text: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """``10m``, ``2h``, ``1d``, ``90s`` ago, or an ISO-8601 time (UTC when no zone is given)."""
    if not text:
        return None
    now = now or times.now()
    try:
        return now - dt.timedelta(seconds=times.parse_duration(text.strip()))
    except ValueError:
        pass
    try:
        return times.parse_iso(text)
    except ValueError:
        raise UsageError(
            f"--since: {text!r} is neither a duration such as 10m or 2h (at most 100 years) "
            "nor an ISO-8601 time"
        ) from None


def format_indexes(indexes: list[int], limit: int = 200) -> str:
    """[3, 17, 18, 19, 20] -> "3,17-20" (the --index syntax), elided past ``limit``."""
    parts: list[str] = []
    start = prev = None
    for i in indexes:
        if start is None or prev is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    text = ",".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."
