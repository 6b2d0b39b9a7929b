"""How executions look: plans, the header, the children table, the listing, outputs
and terminations. Shared by `create execution`, `relaunch`, `get execution` and
`delete`; every function renders what the library returned (it never decides)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from batchmap import times
from batchmap.backends.base import Child, ChildQuery
from batchmap.cli.output import Output, OutputFormat, to_yaml
from batchmap.cli.selection import format_indexes
from batchmap.cli.tables import Column
from batchmap.cli.views.live import shown_status
from batchmap.cli.views.parts import duration, header_lines, log_links
from batchmap.executions.family import Detail
from batchmap.executions.lifecycle import Executions, Terminated
from batchmap.executions.manifest import Manifest
from batchmap.executions.reading import Listing
from batchmap.executions.summary import last_line

if TYPE_CHECKING:
    from batchmap.executions.plan import ExecutionPlan

CHILD_COLUMNS = [
    Column("INDEX", "index", justify="right"),
    Column("STATUS", "status"),
    Column("ATTEMPTS", "attempts", justify="right", drop=2),
    Column("EXIT", "exitCode", justify="right"),
    Column("REASON", "reason", flex=True),
    Column("STARTED", "started", drop=4),
    Column("DURATION", "duration", justify="right", drop=1),
    Column("LOGS", "logs", flex=True, drop=3),
]
FROM_COLUMN = Column("FROM", "execution", drop=5)
LIST_COLUMNS = [
    Column("NAME", "name"),
    Column("LAUNCH PLAN", "launchPlan", flex=True),
    Column("PHASE", "phase"),
    Column("SUCCEEDED", "succeeded", justify="right"),
    Column("FAILED", "failed", justify="right"),
    Column("RUNNING", "running", justify="right", drop=2),
    Column("TOTAL", "total", justify="right"),
    Column("STARTED", "started", drop=1),
    Column("DURATION", "duration", justify="right"),
    Column("VERSION", "version", drop=3),
    Column("QUEUE", "queue", flex=True, drop=4),
    Column("BACKEND", "backend", drop=5),
]
OUTPUT_COLUMNS = [
    Column("INDEX", "index", justify="right"),
    Column("OUTPUT", "output", flex=True),
    Column("FROM", "execution"),
]


# -- plans --------------------------------------------------------------------------------
def notes(out: Output, plan: ExecutionPlan) -> None:
    for note in plan.notes:
        out.info(note)
    for warning in plan.warnings:
        out.warn(warning)


def dry_run(out: Output, plan: ExecutionPlan, summary: str | None = None) -> None:
    if out.format is not OutputFormat.table:
        out.data(plan.to_dict())
    else:
        out.text(
            summary
            or "# dry run: the plan of this execution (nothing is changed)\n"
            + to_yaml(plan.to_dict())
        )
    out.info("dry run: nothing was staged, registered or submitted")


# -- one execution ------------------------------------------------------------------------
def child_row(
    child: Child, links: list[str] | None = None, execution: str | None = None
) -> dict[str, Any]:
    return {
        "index": child.index,
        "status": shown_status(child),
        "attempts": len(child.attempts),
        "exitCode": child.exit_code,
        "reason": last_line(child.reason),
        "started": child.started_at,
        "duration": times.elapsed(child.started_at, child.stopped_at),
        "logs": log_links(child, links or []),
        "execution": execution,
    }


def submitted(out: Output, executions: Executions, manifest: Manifest, *, waiting: bool) -> None:
    if out.format is not OutputFormat.table:
        out.data(manifest.view())
    family = executions.family(manifest)  # its own phase is its member's: one read
    own = [m.phase for m in family.members if m.manifest.name == manifest.name]
    phase = own[0] if own else executions.status(manifest)
    detail = Detail(manifest, family, phase, [])
    for line in header_lines(detail, executions.links(manifest)):
        if not (waiting and line.startswith("phase ")):  # the live view shows the phase
            out.info(line)
    if not waiting:
        out.hint(
            f"follow it: batchmap logs -p {manifest.project} -d {manifest.domain} "
            f"{manifest.name} --follow"
        )


def detail_data(detail: Detail) -> dict[str, Any]:
    """The -o json|yaml object of one execution (docs/executions.md)."""
    data = {
        **detail.manifest.view(),
        "status": detail.phase.to_dict(),
        "children": [item.to_dict() for item in detail.children],
    }
    if detail.merged:
        data["ownStatus"] = detail.own.to_dict()
        data["relaunches"] = [m.to_dict() for m in detail.family.relaunches]
    if detail.manifest.relaunch:
        data["rootStatus"] = detail.family.phase.to_dict()
    return data


def execution(out: Output, executions: Executions, detail: Detail, query: ChildQuery) -> None:
    """One execution with the children ``query`` asks for."""
    manifest = detail.manifest
    if out.format is OutputFormat.html:
        from batchmap.cli.views import html

        out.text(html.report(executions, detail))
        return
    if out.format is not OutputFormat.table:
        out.data(detail_data(detail))
        return
    out.fitted_lines(header_lines(detail, executions.links(manifest)))
    out.text("")
    rows = [
        child_row(
            item.child, executions.child_links(item.execution, item.child), item.execution.name
        )
        for item in detail.children
    ]
    columns = [*CHILD_COLUMNS, FROM_COLUMN] if detail.merged else CHILD_COLUMNS
    if rows:
        out.table(columns, rows)
    else:
        out.info(f"no children of {manifest.name} match {_selection(query)}")
    shown = len(rows)
    if query.limit is not None and shown == query.limit and manifest.size > shown:
        out.hint(f"showing {shown} children; --all or --limit N for more")


def _selection(query: ChildQuery) -> str:
    parts = []
    if query.statuses:
        parts.append("--status " + ",".join(sorted(query.statuses)))
    if query.indexes:
        parts.append("--index " + format_indexes(sorted(query.indexes)))
    return " ".join(parts) or "the selection"


def listing(out: Output, found: Listing, project: str, domain: str) -> None:
    for problem in found.broken:
        out.warn(f"skipped: {problem.message}")
    rows, objects = [], []
    for item in found.executions:
        manifest, phase = item.manifest, item.phase
        rows.append(
            {
                "name": manifest.name,
                "launchPlan": manifest.launch_plan.name,
                "version": manifest.launch_plan.version,
                "backend": manifest.backend,
                "queue": manifest.queue.name if manifest.queue else None,
                "phase": phase.phase + ("*" if item.relaunches else ""),
                "succeeded": phase.succeeded,
                "failed": phase.failed,
                "running": phase.running,
                "total": phase.size,
                "started": manifest.created_at,
                "duration": duration(manifest, phase),
            }
        )
        objects.append(
            {**manifest.view(), "status": phase.to_dict(), "relaunchCount": item.relaunches}
        )
    if not rows:
        out.info(f"no executions in {project}/{domain}")
    out.data(objects, columns=LIST_COLUMNS, rows=rows)
    if any(item.relaunches for item in found.executions) and out.format is OutputFormat.table:
        out.hint("* merged with its relaunches: for each child, the latest attempt")


def outputs(out: Output, name: str, values: list[Any], producers: list[str | None]) -> None:
    rows = [
        {"index": i, "output": json.dumps(v), "execution": p}
        for i, (v, p) in enumerate(zip(values, producers, strict=True))
    ]
    if not any(p is not None for p in producers):
        out.info(f"no child of {name} wrote an output (each shows null)")
    out.data(values, columns=OUTPUT_COLUMNS, rows=rows)


def terminated(out: Output, result: Terminated) -> None:
    """Plain sentences: what was stopped, how many children, and the phase it ends in."""
    name = result.manifest.name
    phase = result.phase
    if out.format is not OutputFormat.table:
        out.data(result.to_dict())
    if result.already_finished:
        out.info(
            f"{name} had already finished ({phase.phase}: {phase.succeeded} of {phase.size} "
            "succeeded); nothing was stopped"
        )
        return
    children = (
        f"{result.running} running child{'ren' * (result.running != 1)} and "
        f"{result.queued} not started"
    )
    what = result.stopped.what if result.stopped else "nothing"
    if result.dry_run:
        out.info(f"dry run: would stop {children} of {name} by stopping {what}")
        return
    reason = result.manifest.terminated.reason if result.manifest.terminated else ""
    out.info(f"Stopped {children} of {name} ({what}), reason: {reason}.")
    still = phase.size - phase.succeeded - phase.failed
    if still:
        out.info(
            f"{name} is ABORTED; {still} child{'ren' * (still != 1)} still stopping "
            "(it was not waited for)."
        )
    else:
        out.info(f"{name} is ABORTED: {phase.succeeded} of {phase.size} children had succeeded.")
