"""Watching an execution: the live view on a terminal, plain progress lines in CI.

On a terminal (stderr is a TTY) the view uses the whole screen it has and never
more: a header with the phase, elapsed time and ETA, a progress bar with counts
per status, the status grid of every child, and as many child rows as fit
(non-succeeded first) with "… N more". Each refresh re-measures the terminal, so a
resize is followed. Without a terminal (CI), one timestamped line at most every
CI_EVERY seconds, when something changed (or every CI_HEARTBEAT seconds), and the
final one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from batchmap import times
from batchmap.backends.base import Child, ChildQuery
from batchmap.cli.output import Output
from batchmap.cli.tables import Column
from batchmap.cli.views import grid as grids
from batchmap.cli.views import summary as summaries
from batchmap.errors import Interrupted
from batchmap.executions.lifecycle import Executions, require_success
from batchmap.executions.manifest import Manifest
from batchmap.executions.phase import Phase, remaining_seconds
from batchmap.executions.summary import Summary, last_line

CI_EVERY = 10.0
CI_HEARTBEAT = 60.0
PHASE_STYLE = {"SUCCEEDED": "bold green", "FAILED": "bold red", "ABORTED": "bold yellow"}
LIVE_COLUMNS = [
    Column("INDEX", "index", justify="right"),
    Column("STATUS", "status"),
    Column("ATTEMPTS", "attempts", justify="right", drop=2),
    Column("EXIT", "exitCode", justify="right"),
    Column("DURATION", "duration", justify="right", drop=1),
    Column("REASON", "reason", flex=True),
]
RESERVED = 4  # header, bar, counts, blank line


def counts_line(phase: Phase) -> str:
    """``26 succeeded, 2 failed, 1 running, 1 queued of 30 (needs 27)``"""
    return (
        f"{phase.succeeded} succeeded, {phase.failed} failed, {phase.running} running, "
        f"{phase.queued} queued of {phase.size} (needs {phase.min_successes})"
    )


def timing(phase: Phase, elapsed: float) -> str:
    left = remaining_seconds(phase, elapsed)
    eta = "" if phase.done else f", ETA {times.compact(left) if left is not None else '?'}"
    return f"elapsed {times.compact(elapsed)}{eta}"


def progress_line(phase: Phase, elapsed: float) -> str:
    """The plain progress line (CI logs, and what a test pins)."""
    ended = phase.succeeded + phase.failed
    return (
        f"{phase.phase} {ended}/{phase.size} ended: {counts_line(phase)}; {timing(phase, elapsed)}"
    )


def shown_status(child: Child) -> str:
    """A child waiting for its next attempt reads RETRYING, not RUNNABLE next to the
    failure of its last attempt (the library's reason says which attempt comes)."""
    last = child.last
    waiting = child.status in ("SUBMITTED", "PENDING", "RUNNABLE")
    return "RETRYING" if waiting and last is not None and last.stopped_at else child.status


def live_row(child: Child) -> dict[str, Any]:
    return {
        "index": child.index,
        "status": shown_status(child),
        "attempts": len(child.attempts),
        "exitCode": child.exit_code,
        "duration": times.elapsed(child.started_at, child.stopped_at),
        "reason": last_line(child.reason),
    }


class CiProgress:
    """Plain progress for logs: a timestamped line when the counts changed, at most every
    CI_EVERY seconds, a heartbeat every CI_HEARTBEAT seconds, and always the last."""

    def __init__(self, out: Output, manifest: Manifest, clock: Callable[[], dt.datetime]) -> None:
        self.out = out
        self.manifest = manifest
        self.clock = clock
        self.printed_at: dt.datetime | None = None
        self.printed: str | None = None

    def __call__(self, phase: Phase) -> None:
        now = self.clock()
        state = counts_line(phase) + phase.phase
        since = (now - self.printed_at).total_seconds() if self.printed_at else None
        due = (
            since is None
            or (phase.done and state != self.printed)
            or (state != self.printed and since >= CI_EVERY)
            or since >= CI_HEARTBEAT
        )
        if not due:
            return
        elapsed = (now - self.manifest.created_at).total_seconds()
        self.out.info(f"{times.shown(now)} {self.manifest.name} {progress_line(phase, elapsed)}")
        self.printed_at, self.printed = now, state


class LiveView:
    """The terminal view. ``update`` reads (once a poll); rendering only draws, so the
    clock and the layout follow the terminal four times a second."""

    def __init__(
        self,
        executions: Executions,
        manifest: Manifest,
        clock: Callable[[], dt.datetime],
        height: Callable[[], int],
    ) -> None:
        self.executions = executions
        self.manifest = manifest
        self.clock = clock
        self.height = height
        self.phase: Phase | None = None
        self.children: list[Child] = []
        self.cells: list[str] = []

    def update(self, phase: Phase) -> None:
        self.phase = phase
        rows = max(1, self.height())
        self.children = self.executions.children(self.manifest, ChildQuery(limit=rows))
        self.cells = self.executions.statuses(self.manifest)

    # -- drawing ------------------------------------------------------------------------
    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        width = max(20, options.max_width)
        height = max(4, (options.height or console.height) - 1)
        phase = self.phase
        if phase is None:
            yield Text(f"{self.manifest.name}: waiting for the first status…")
            return
        elapsed = (self.clock() - self.manifest.created_at).total_seconds()
        for line in self._top(phase, elapsed, width, plain=console.color_system is None):
            yield line
        room = height - RESERVED
        grid_lines = self._grid(width, room)
        for line in grid_lines:
            yield line
        room -= len(grid_lines)
        yield from self._table(phase, width, room)

    def _top(self, phase: Phase, elapsed: float, width: int, plain: bool) -> list[Any]:
        from rich.text import Text

        head = Text(self.manifest.name + "  ", style="bold")
        head.append(phase.phase, style=PHASE_STYLE.get(phase.phase, "bold cyan"))
        right = "  " + timing(phase, elapsed)
        head.append(right)
        head.truncate(width, overflow="ellipsis")
        ended = phase.succeeded + phase.failed
        percent = f" {ended}/{phase.size}"
        bar = self._bar(phase, max(10, width - len(percent)), plain)
        bar.append(percent)
        bar.truncate(width, overflow="ellipsis")
        counts = Text()
        for kind, number in (
            ("succeeded", phase.succeeded),
            ("failed", phase.failed),
            ("running", phase.running),
            ("queued", phase.queued),
        ):
            counts.append(f"{grids.GLYPH[kind]} ", style=grids.STYLE[kind])
            counts.append(f"{number} {kind}  ")
        counts.append(f"needs {phase.min_successes} of {phase.size}")
        counts.truncate(width, overflow="ellipsis")
        return [head, bar, counts, Text("")]

    @staticmethod
    def _bar(phase: Phase, width: int, plain: bool) -> Any:
        """A stacked bar: succeeded, failed, running, then queued."""
        from rich.text import Text

        parts = [
            ("succeeded", phase.succeeded),
            ("failed", phase.failed),
            ("running", phase.running),
        ]
        bar = Text()
        used = 0
        size = max(1, phase.size)
        for kind, number in parts:
            cells = round(width * number / size)
            cells = min(cells, width - used)
            if number and not cells and used < width:
                cells = 1  # a single failure is never invisible
            glyph = grids.GLYPH[kind] if plain else "━"
            bar.append(glyph * cells, style=grids.STYLE[kind])
            used += cells
        bar.append((grids.GLYPH["queued"] if plain else "─") * (width - used), style="dim")
        return bar

    def _grid(self, width: int, room: int) -> list[Any]:
        from rich.text import Text

        if not self.cells or room < 6:
            return []
        label = len(str(max(self.manifest.indexes, default=0)))
        columns = max(1, width - label - 1)
        needed = -(-len(self.cells) // columns)
        rows = min(needed, max(1, room // 3))
        grid = grids.layout(self.cells, columns, rows)
        indexes = self.manifest.indexes  # a relaunch labels rows by original index
        lines = grids.renderable(grid, label, lambda position: indexes[position])
        legend = Text(grids.legend(grid), style="dim")
        legend.truncate(width, overflow="ellipsis")
        return [*lines, legend, Text("")]

    def _table(self, phase: Phase, width: int, room: int) -> Any:
        from rich.text import Text

        if room < 3:
            hidden = phase.size
            if hidden:
                yield Text(f"… {hidden} children (a taller terminal shows them)", style="dim")
            return
        more_line = 1 if len(self.children) > room - 2 or phase.size > len(self.children) else 0
        rows = self.children[: max(1, room - 2 - more_line)]
        table = [live_row(c) for c in rows]
        yield Output.make_table(LIVE_COLUMNS, table, width=width, compact=True)
        more = phase.size - len(rows)
        if more > 0:
            succeeded = sum(1 for c in rows if c.status == "SUCCEEDED")
            done = phase.succeeded - succeeded
            tail = f" ({done} succeeded)" if done > 0 else ""
            line = Text(f"… {more} more{tail}", style="dim")
            line.truncate(width, overflow="ellipsis")
            yield line


def wait(
    out: Output,
    executions: Executions,
    manifest: Manifest,
    *,
    judge: bool = True,
    cli: str = "batchmap",
    clock: Callable[[], dt.datetime] = times.now,
) -> Summary:
    """Show progress until the execution ends, then the summary; with ``judge``, exit 7
    when the result (merged with the root's relaunches) is below the success ratio.
    Ctrl-C stops what this process runs and says what goes on (exit 130)."""
    try:
        if out.interactive:
            view = LiveView(executions, manifest, clock, lambda: out.live_console.height)
            with out.live(view) as redraw:

                def show(phase: Phase) -> None:
                    view.update(phase)
                    redraw()

                executions.wait(manifest, on_progress=show)
        else:
            executions.wait(manifest, on_progress=CiProgress(out, manifest, clock))
    except KeyboardInterrupt:
        said = executions.interrupt(manifest)
        current = executions.get(manifest.project, manifest.domain, manifest.name)
        if current.terminated:
            raise Interrupted(
                f"interrupted: stopped the running children of {manifest.name}; it is ABORTED"
            ) from None
        raise Interrupted(
            f"interrupted: stopped watching; {manifest.name} continues ({said})"
        ) from None
    summary = executions.summary(manifest)
    summaries.show(out, summary, cli)
    if judge:
        require_success(summary.verdict)
    return summary
