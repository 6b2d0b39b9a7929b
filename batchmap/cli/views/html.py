"""`get execution NAME -o html`: one self-contained page a CI job keeps as an artifact.

What Flyte Console shows for a map task, as a file: the phase and counts, the status
grid of every child, the failure reasons, the children table and every log link.
Inline CSS only: no script, no font, no image, no request leaves the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from batchmap import times
from batchmap.cli.views import grid as grids
from batchmap.cli.views.live import shown_status
from batchmap.cli.views.parts import header_lines, log_links
from batchmap.executions.family import Detail
from batchmap.executions.lifecycle import Executions
from batchmap.executions.summary import one_line

MAX_CELLS = 10_000  # past this, a cell is a block of children
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.phase { display: inline-block; padding: 2px 8px; border-radius: 4px; color: #fff; }
.SUCCEEDED { background: #2e9d4f; } .FAILED { background: #d1242f; }
.ABORTED { background: #bf8700; } .RUNNING { background: #1f7ae0; }
pre.header { background: #f6f8fa; padding: 8px; overflow-x: auto; }
.bar { display: flex; height: 12px; width: 100%; max-width: 720px; background: #c8ccd2; }
.bar span { display: block; height: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, 12px); gap: 2px;
        max-width: 960px; }
.cell { width: 12px; height: 12px; border-radius: 2px; }
.succeeded { background: #2e9d4f; } .failed { background: #d1242f; }
.running { background: #1f7ae0; } .queued { background: #c8ccd2; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; text-align: left;
        border-bottom: 1px solid #d0d7de; vertical-align: top; }
td.num { text-align: right; } .reason { max-width: 640px; word-break: break-word; }
.legend span.cell { display: inline-block; vertical-align: middle; margin: 0 4px 0 12px; }
"""


def _bar(detail: Detail) -> str:
    phase = detail.phase
    size = max(1, phase.size)
    parts = [
        ("succeeded", phase.succeeded),
        ("failed", phase.failed),
        ("running", phase.running),
    ]
    return (
        '<div class="bar">'
        + "".join(
            f'<span class="{kind}" style="width:{100 * n / size:.3f}%" title="{n} {kind}"></span>'
            for kind, n in parts
            if n
        )
        + "</div>"
    )


def _grid(cells: list[str], detail: Detail) -> str:
    grid = grids.layout(cells, columns=1, max_rows=MAX_CELLS)
    indexes = list(detail.manifest.indexes) if detail.manifest.relaunch else list(range(len(cells)))
    out = []
    for n, kind in enumerate(grid.cells):
        first = n * grid.per_cell
        last = min(first + grid.per_cell, len(cells)) - 1
        label = (
            f"child {indexes[first]}: {cells[first]}"
            if grid.per_cell == 1
            else f"children {indexes[first]}-{indexes[last]}: worst {kind}"
        )
        out.append(f'<div class="cell {kind}" title="{escape(label)}"></div>')
    legend = "".join(
        f'<span class="cell {k}"></span>{k}' for k in ("succeeded", "failed", "running", "queued")
    )
    unit = "1 child" if grid.per_cell == 1 else f"{grid.per_cell} children (worst shown)"
    return (
        f'<div class="grid" id="grid">{"".join(out)}</div>'
        f'<p class="legend">{legend}<span> — 1 cell = {unit}</span></p>'
    )


def _links(links: Any) -> str:
    return "<br>".join(
        f'<a href="{escape(target if "://" in target else "file://" + target)}">{escape(label)}</a>'
        for label, target in links
    )


def _children(executions: Executions, detail: Detail) -> str:
    rows = []
    for item in detail.children:
        child = item.child
        links = log_links(child, executions.child_links(item.execution, child))
        exit_code = "" if child.exit_code is None else str(child.exit_code)
        rows.append(
            "<tr>"
            f'<td class="num">{child.index}</td><td>{escape(shown_status(child))}</td>'
            f'<td class="num">{len(child.attempts)}</td><td class="num">{exit_code}</td>'
            f'<td class="reason">{escape(child.reason or "")}</td>'
            f"<td>{times.shown(child.started_at) if child.started_at else ''}</td>"
            f'<td class="num">{times.elapsed(child.started_at, child.stopped_at)}</td>'
            f"<td>{_links(links)}</td><td>{escape(item.execution.name)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "index",
            "status",
            "attempts",
            "exit",
            "reason",
            "started",
            "duration",
            "logs",
            "execution",
        )
    )
    return (
        f'<table id="children"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _failures(detail: Detail) -> str:
    failed = [item for item in detail.children if item.child.status == "FAILED"]
    if not failed:
        return "<p>No child failed.</p>"
    items = "".join(
        f"<li><b>child {item.child.index}</b> (exit {item.child.exit_code}, "
        f"{len(item.child.attempts)} attempts): "
        f"{escape(one_line(item.child.reason) or 'no reason given')}</li>"
        for item in failed
    )
    more = detail.phase.failed - len(failed)
    tail = f"<p>… and {more} more failed children (--all).</p>" if more > 0 else ""
    return f'<ul id="failures">{items}</ul>{tail}'


def report(executions: Executions, detail: Detail) -> str:
    """The whole page (UTF-8 HTML)."""
    manifest, phase = detail.manifest, detail.phase
    cells = executions.grid(detail.family) if detail.merged else executions.statuses(manifest)
    header = "\n".join(header_lines(detail, executions.links(manifest)))
    title = f"{manifest.project}/{manifest.domain}/{manifest.name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>batchmap: {escape(title)} {phase.phase}</title>"
        f"<style>{CSS}</style></head><body>"
        f'<h1>{escape(title)} <span class="phase {phase.phase}">{phase.phase}</span></h1>'
        f"<p>{escape(phase.describe())}</p>{_bar(detail)}"
        f"<h2>Status of every child</h2>{_grid(cells, detail)}"
        f"<h2>Failures</h2>{_failures(detail)}"
        f"<h2>Children</h2>{_children(executions, detail)}"
        f'<h2>Execution</h2><pre class="header">{escape(header)}</pre>'
        f"<p><small>batchmap report, {times.shown(times.now())}</small></p>"
        "</body></html>\n"
    )
