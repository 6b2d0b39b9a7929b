"""The status grid and the live view, drawn without a process: 10,000 children on an
80×24 terminal fit, and failures land in the right cells."""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console

from batchmap.backends.base import Attempt, Child
from batchmap.cli.tables import Column, fit
from batchmap.cli.views import grid as grids
from batchmap.cli.views.live import LiveView
from batchmap.executions.phase import phase_of

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def test_a_block_takes_its_worst_child() -> None:
    statuses = ["SUCCEEDED"] * 10_000
    statuses[4242] = "FAILED"
    statuses[9999] = "RUNNING"
    grid = grids.layout(statuses, columns=77, max_rows=6)
    assert grid.per_cell == 22 and len(grid.cells) == 455
    assert [i for i, kind in enumerate(grid.cells) if kind != "succeeded"] == [192, 454]
    assert grid.cells[192] == "failed" and grid.cells[454] == "running"
    assert "1 cell = 22 children (worst shown)" in grids.legend(grid)
    assert len(grid.rows) == 6 and all(len(cells) <= 77 for _, cells in grid.rows)
    assert [first for first, _ in grid.rows][:2] == [0, 77 * 22]


def test_fit_keeps_numbers_and_elides_text() -> None:
    columns = [
        Column("INDEX", "i", justify="right"),
        Column("REASON", "r", flex=True),
        Column("STARTED", "s", drop=1),
    ]
    assert fit(columns, [5, 200, 20], 80) == [5, 49, 20]  # REASON elided, keeps 30+
    assert fit(columns, [5, 200, 20], 60) == [5, 52, None]  # STARTED left out
    assert fit(columns, [5, 20, 20], 80) == [5, 20, 20]  # everything fits


class FakeExecutions:
    """What the live view reads: 10,000 children, four failed, six running."""

    def __init__(self) -> None:
        self.statuses_ = ["SUCCEEDED"] * 6000 + ["RUNNABLE"] * 4000
        for i in (17, 4242, 4243, 5999):
            self.statuses_[i] = "FAILED"
        for i in range(6000, 6006):
            self.statuses_[i] = "RUNNING"

    def children(self, manifest: object, query: object) -> list[Child]:
        failed = [
            Child(i, "FAILED", (Attempt(1, T0, T0, 1, None),), "a reason " * 30)
            for i in (17, 4242, 4243, 5999)
        ]
        running = [Child(i, "RUNNING", (Attempt(1, T0),)) for i in range(6000, 6006)]
        return (failed + running)[: query.limit]  # type: ignore[attr-defined]

    def statuses(self, manifest: object) -> list[str]:
        return list(self.statuses_)


class FakeManifest:
    name = "big"
    created_at = T0
    relaunch = None
    indexes = range(10_000)


def test_the_live_view_of_10000_children_fits_80_by_24() -> None:
    console = Console(file=io.StringIO(), width=80, height=24, color_system=None)
    view = LiveView(
        FakeExecutions(),  # type: ignore[arg-type]
        FakeManifest(),  # type: ignore[arg-type]
        lambda: T0 + dt.timedelta(minutes=10),
        lambda: 24,
    )
    counts = {"SUCCEEDED": 5996, "FAILED": 4, "RUNNING": 6, "RUNNABLE": 3994}
    view.update(phase_of(counts, 10_000, 9_000))
    console.print(view)
    lines = console.file.getvalue().splitlines()
    assert len(lines) <= 23 and max(len(line) for line in lines) <= 80
    assert lines[0].startswith("big  RUNNING  elapsed 10m00s, ETA 6m40s")
    assert lines[1].endswith(" 6000/10000")
    grid_rows = [line for line in lines if line[:4].strip().isdigit() and line[4] == " "]
    assert grid_rows[0].startswith("   0 ✗") and len(grid_rows) == 6
    cells = "".join(row[5:] for row in grid_rows)
    per_cell = 23  # 10,000 children in 6 rows of 75 cells
    failed = [i for i, c in enumerate(cells) if c == "✗"]
    assert failed == sorted({i // per_cell for i in (17, 4242, 4243, 5999)})
    assert "1 cell =" in "\n".join(lines)
    assert any(line.startswith("… ") and "more" in line for line in lines)
