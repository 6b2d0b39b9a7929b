"""Parsing of the child selectors `--index 3,17-20` and `--status FAILED,RUNNING`."""

from __future__ import annotations

import datetime as dt
import re

from batchmap.backends.base import STATUSES
from batchmap.errors import InvalidInputError
from batchmap.files.schemas import did_you_mean


def parse_indexes(text: str | None, size: int | None = None) -> frozenset[int]:
    if not text:
        return frozenset()
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                if low > high:
                    raise ValueError
                out.update(range(low, high + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise InvalidInputError(
                f"--index: {part!r} is not an index or a range such as 17-20"
            ) from None
    if size is not None and out and max(out) >= size:
        raise InvalidInputError(
            f"--index: {max(out)} is out of range: the map has {size} children (0-{size - 1})"
        )
    return frozenset(out)


def parse_statuses(values: list[str] | None) -> frozenset[str]:
    out = set()
    for value in values or []:
        for part in value.split(","):
            status = part.strip().upper()
            if status not in STATUSES:
                raise InvalidInputError(
                    f"--status: unknown status {part!r} (one of {', '.join(STATUSES)})",
                    hint=did_you_mean(status, list(STATUSES)),
                )
            out.add(status)
    return frozenset(out)


def parse_since(text: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """``10m``, ``2h``, ``1d``, ``90s`` ago, or an ISO-8601 time (UTC when no zone is given)."""
    if not text:
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - dt.timedelta(**{unit: int(match.group(1))})
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"--since: {text!r} is neither a duration such as 10m or 2h nor an ISO-8601 time"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
