"""Times and durations: the one place for batchmap's timestamp and duration formats.

Stored times are ISO-8601 UTC with microseconds (``2026-12-02T13:21:50.123456Z``);
shown times drop the fraction. Durations come in three spellings, all read here:
launch plans' ``90s``/``1h30m``/``2d``, Go's ``72h``/``1h30m0s`` (propeller's
config) and ``--since 10m``.
"""

from __future__ import annotations

import datetime as dt
import re
import time

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d)")
# Past this, a duration is a typo, not a plan (and datetime arithmetic would overflow).
MAX_SECONDS = 100 * 365 * 86400


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(value: dt.datetime | None) -> str | None:
    """The stored form: ISO-8601 UTC with microseconds and a ``Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SECOND: tuple[int, str] = (-1, "")


def iso_now() -> str:
    """``iso(now())``, the seconds formatted once a second: the local supervisor stamps
    each attempt's start and end (thousands a second), and strftime is most of that."""
    global _SECOND
    stamp = time.time()
    second, text = cached = _SECOND  # one read: another thread may replace it
    if second != int(stamp):
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))
        second, text = cached = (int(stamp), text)
        _SECOND = cached
    return f"{text}.{int((stamp - second) * 1e6):06d}Z"


def shown(value: dt.datetime) -> str:
    """The displayed form: ISO-8601 UTC to the second."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> dt.datetime | None:
    """An ISO-8601 time (``Z`` or an offset; UTC when none is given), or None."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def from_ms(value: int | None) -> dt.datetime | None:
    """AWS's epoch milliseconds as a UTC time."""
    return dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc) if value else None


def parse_duration(value: float | str, *, go: bool = False) -> int:
    """Whole seconds of ``3600``, ``"90s"``, ``"1h30m"``, ``"2d"``; with ``go``, Go's
    spellings too (``"72h"``, ``"1h30m0s"``, ``"500ms"``). ValueError when it is none."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float):  # YAML's 3600.0: whole seconds only
        if not value.is_integer():
            raise ValueError(f"not a whole number of seconds: {value!r}")
        seconds = int(value)
    elif not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    else:
        text = value.strip()
        parts = _PART.findall(text)
        units = _UNITS if go else {u: _UNITS[u] for u in ("s", "m", "h", "d")}
        if (
            not parts
            or "".join(n + u for n, u in parts) != text
            or any(u not in units for _, u in parts)
        ):
            raise ValueError(f"not a duration: {value!r}")
        total = sum(float(n) * units[u] for n, u in parts)
        if not total <= MAX_SECONDS:  # also inf, from a 400-digit number
            raise ValueError(f"duration out of range: {value!r}")
        seconds = int(total)
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"duration out of range: {value!r}")
    return seconds


def elapsed(
    start: dt.datetime | None, stop: dt.datetime | None, *, at: dt.datetime | None = None
) -> str:
    """``1h02m03s``, ``2m05s`` or ``7s`` from ``start`` to ``stop`` (or ``at``, or now);
    "" without a start."""
    if start is None:
        return ""
    end = stop or at or now()
    return compact(max(0, int((end - start).total_seconds())))


def compact(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"
