"""Parsing of the child selectors `--index 3,17-20` and `--status FAILED,RUNNING`."""

from __future__ import annotations

from batchmap.backends import STATUSES
from batchmap.errors import InvalidInputError
from batchmap.validation import did_you_mean


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
