"""The status grid: every child as one cell (or one cell per block of children), so a
person sees at a glance where failures cluster. Shared by the live view and the HTML
report; each glyph reads without colour too."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# What a cell shows, worst first: a block of children takes its worst child's look.
KINDS = ("failed", "running", "queued", "succeeded")
KIND_OF = {
    "FAILED": "failed",
    "RUNNING": "running",
    "STARTING": "running",
    "RUNNABLE": "queued",
    "PENDING": "queued",
    "SUBMITTED": "queued",
    "SUCCEEDED": "succeeded",
}
GLYPH = {"failed": "✗", "running": "▒", "queued": "░", "succeeded": "█"}
STYLE = {"failed": "bold red", "running": "cyan", "queued": "dim", "succeeded": "green"}


@dataclass(frozen=True)
class Grid:
    """Cells in rows: ``per_cell`` children a cell, ``columns`` cells a row."""

    cells: tuple[str, ...]  # a kind per cell
    per_cell: int
    columns: int
    size: int

    @property
    def rows(self) -> list[tuple[int, tuple[str, ...]]]:
        """(first child index, cells) per row."""
        return [
            (start * self.per_cell, self.cells[start : start + self.columns])
            for start in range(0, len(self.cells), self.columns)
        ]


def worst(statuses: Sequence[str]) -> str:
    kinds = {KIND_OF.get(s, "queued") for s in statuses}
    return next(k for k in KINDS if k in kinds) if kinds else "queued"


def layout(statuses: Sequence[str], columns: int, max_rows: int | None = None) -> Grid:
    """Fit ``statuses`` into ``columns`` cells a row and at most ``max_rows`` rows,
    grouping consecutive children into blocks when there are more children than cells."""
    size = len(statuses)
    columns = max(1, columns)
    capacity = columns * max_rows if max_rows else size
    per_cell = max(1, math.ceil(size / max(1, capacity)))
    cells = tuple(worst(statuses[start : start + per_cell]) for start in range(0, size, per_cell))
    return Grid(cells, per_cell, columns, size)


def legend(grid: Grid) -> str:
    names = "  ".join(f"{GLYPH[k]} {k}" for k in ("succeeded", "failed", "running", "queued"))
    unit = "1 child" if grid.per_cell == 1 else f"{grid.per_cell} children (worst shown)"
    return f"{names}   1 cell = {unit}"


def renderable(grid: Grid, label_width: int, index_of: Callable[[int], int] = int) -> list[Any]:
    """The grid as rich Text lines, each row labelled by its first child's index."""
    from rich.text import Text

    lines: list[Any] = []
    for first, cells in grid.rows:
        line = Text(f"{index_of(first):>{label_width}} ", style="dim")
        for kind in cells:
            line.append(GLYPH[kind], style=STYLE[kind])
        lines.append(line)
    return lines
