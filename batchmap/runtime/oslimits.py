"""What an operating system lets a program receive: checked before anything is staged.

A child's item reaches its program as an argument (``{{ item }}``) and as the
``BATCHMAP_ITEM`` variable, on this machine or in a container on AWS Batch: both
are Linux ``execve``. Linux refuses a NUL byte inside any argument or variable
(they are C strings), any single one longer than ``MAX_ARG_STRLEN`` (32 pages:
131,072 bytes with its terminating NUL), and all of them together past
``ARG_MAX`` (a quarter of the stack limit: 2 MiB by default). A child refused
by ``execve`` can only fail, on every attempt, so batchmap refuses such an
input up front (exit 3) and names the item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from batchmap.runtime.child import PLACEHOLDER

# Linux's MAX_ARG_STRLEN (32 * 4096) less the terminating NUL.
MAX_ARG_BYTES = 32 * 4096 - 1
# The arguments plus batchmap's item variable of one child: half of Linux's default
# ARG_MAX, which leaves the other half to the environment the child inherits.
MAX_ARGV_BYTES = 1 << 20
ITEM_VARIABLE = "BATCHMAP_ITEM"
MAX_REPORTED = 20


def string_problem(text: str, what: str = "an argument or environment variable") -> str | None:
    """Why ``text`` cannot be passed to a program as ``what`` (None when it can)."""
    if "\x00" in text:
        return f"holds a NUL byte, which {what} cannot carry"
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_ARG_BYTES:
        return (
            f"is {size:,} bytes, over the {MAX_ARG_BYTES:,} bytes the operating system "
            f"passes in {what}"
        )
    return None


def line_problems(
    template: Sequence[str],
    lines: Iterable[bytes],
    broadcast: Mapping[str, Any],
    *,
    label: Callable[[int], str] = lambda index: f"item {index}",
) -> list[str]:
    """``item_problems`` of items as staged (one compact JSON line each), at the cost of a
    length test per line: only a line that could reach a limit (or that may hold a NUL) is
    decoded and rendered. The bound is safe: a placeholder's value is the item, a field
    of it, a broadcast input or the index, and their JSON with spaces is at most twice the
    compact line; ``BATCHMAP_ITEM`` likewise."""
    static = sum(len(arg.encode("utf-8", "surrogateescape")) + 1 for arg in template)
    holes = sum(len(PLACEHOLDER.findall(arg)) for arg in template)
    shared = json.dumps(broadcast, ensure_ascii=False)
    fast = "\\u0000" not in shared and "\x00" not in shared
    widest = len(shared.encode()) + 32

    def bound(size: int) -> int:
        return static + 2 * holes * max(size, widest) + 2 * size + 64

    # The longest line whose bound stays under the limit (the bound grows with the size).
    safe = -1
    if fast:
        low, high = 0, MAX_ARG_BYTES
        while low <= high:
            middle = (low + high) // 2
            if bound(middle) < MAX_ARG_BYTES:
                safe, low = middle, middle + 1
            else:
                high = middle - 1

    def suspects() -> Iterator[tuple[int, Any]]:
        for index, line in enumerate(lines):
            if len(line) <= safe and b"\\u0000" not in line:
                continue
            yield index, json.loads(line)

    return item_problems(template, suspects(), broadcast, label=label, numbered=True)


def item_problems(
    template: Sequence[str],
    items: Iterable[Any],
    broadcast: Mapping[str, Any],
    *,
    label: Callable[[int], str] = lambda index: f"item {index}",
    numbered: bool = False,
) -> list[str]:
    """One line per item whose child could not be started: its argv (the template filled
    as the child runtime fills it) or its ``BATCHMAP_ITEM`` too large or holding NUL.
    ``numbered``: ``items`` are (index, item) pairs, the others known to be fine."""
    from batchmap.runtime.child import RuntimeFailure, render

    problems: list[str] = []
    bad = 0
    pairs = items if numbered else enumerate(items)
    for index, item in pairs:
        found = None
        variable = json.dumps(item, ensure_ascii=False)
        try:
            argv = render(template, item, broadcast, index)
        except RuntimeFailure:  # a field the item lacks: that child fails alone, with a reason
            argv = []
        for position, arg in enumerate(argv):
            why = string_problem(arg, "a program argument")
            if why:
                found = f"argument {position} of its command {why}"
                break
        if found is None:
            why = string_problem(f"{ITEM_VARIABLE}={variable}", "an environment variable")
            if why:
                found = f"{ITEM_VARIABLE} {why}"
        if found is None:
            total = sum(len(a.encode("utf-8", "surrogateescape")) + 1 for a in argv)
            total += len(variable.encode()) + len(ITEM_VARIABLE) + 2
            if total > MAX_ARGV_BYTES:
                found = (
                    f"its command and {ITEM_VARIABLE} are {total:,} bytes together, over "
                    f"the {MAX_ARGV_BYTES:,} batchmap allows a child (the system's ARG_MAX "
                    "also holds the environment)"
                )
        if found is not None:
            bad += 1
            if len(problems) < MAX_REPORTED:
                problems.append(f"{label(index)}: {found}")
    if bad > MAX_REPORTED:
        problems.append(f"and {bad - MAX_REPORTED} more items like these")
    return problems
