"""The operating system's limits on a child's arguments, checked before staging: the
line-length shortcut of ``line_problems`` must find exactly what rendering every item
finds (``item_problems``), above all at the edge of the limit."""

from __future__ import annotations

import json
import random
from typing import Any

from batchmap.runtime.oslimits import MAX_ARG_BYTES, item_problems, line_problems
from batchmap.tasks.staging import json_line

TEMPLATES = [
    ["echo", "{{ item }}"],
    ["sh", "-c", "echo {{ item }} {{ item }} {{ .Inputs.shared }}"],
    ["run", "--index", "{{ index }}"],
    ["x" * 60_000, "{{ item }}"],
]


def _items(rng: random.Random) -> list[Any]:
    """Items whose lines sit around every size the shortcut may cut at."""
    sizes = [0, 1, 100, 20_000, 32_700, 43_600, 65_000, 65_535, 65_536, 131_000, 131_071]
    items: list[Any] = []
    for size in sizes:
        for delta in (-3, -1, 0, 1, 3):
            n = max(size + delta, 0)
            items.append("a" * n)
            items.append({"k": "é" * (n // 2)})
    items += ["nul\x00inside", {"k": "\x00"}, 7, None, ["a", "b"]]
    rng.shuffle(items)
    return items


def test_the_shortcut_finds_what_rendering_every_item_finds() -> None:
    rng = random.Random(21)
    for template in TEMPLATES:
        for shared in ("s", "w" * 30_000, "nul\x00"):
            broadcast = {"shared": shared}
            items = _items(rng)
            lines = [json_line(item) for item in items]
            assert line_problems(template, lines, broadcast) == item_problems(
                template, items, broadcast
            ), (template[0][:10], len(shared))


def test_an_item_over_the_limit_is_named() -> None:
    items = ["ok", "a" * MAX_ARG_BYTES]
    found = line_problems(["echo", "{{ item }}"], [json_line(i) for i in items], {})
    assert len(found) == 1 and found[0].startswith("item 1: ")
    assert json.loads(json_line(items[0])) == "ok"
