"""How executions look: plans, the header, the children table, the listing, the live
view of a wait. Shared by `create execution`, `relaunch`, `get execution`, `delete`
and `logs`; every function renders what the library returned (it never decides)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from batchmap import times
from batchmap.api import Registered
from batchmap.backends.base import Child, ChildQuery
from batchmap.cli.output import Column, Output, OutputFormat, to_yaml
from batchmap.executions.lifecycle import Executions, Listing, Terminated, require_success
from batchmap.executions.manifest import Manifest
from batchmap.executions.phase import Phase
from batchmap.executions.plan import ExecutionPlan

LIVE_ROWS = 15

CHILD_COLUMNS = [
    Column("INDEX", "index", justify="right", no_wrap=True),
    Column("STATUS", "status", no_wrap=True),
    Column("ATTEMPTS", "attempts", justify="right"),
    Column("EXIT", "exitCode", justify="right"),
    Column("REASON", "reason"),
    Column("STARTED", "started", no_wrap=True),
    Column("DURATION", "duration", justify="right"),
    Column("LOGS", "logs"),
]
LIST_COLUMNS = [
    Column("NAME", "name", no_wrap=True),
    Column("LAUNCH PLAN", "launchPlan"),
    Column("VERSION", "version"),
    Column("BACKEND", "backend"),
    Column("QUEUE", "queue"),
    Column("PHASE", "phase", no_wrap=True),
    Column("SUCCEEDED", "succeeded", justify="right"),
    Column("FAILED", "failed", justify="right"),
    Column("RUNNING", "running", justify="right"),
    Column("TOTAL", "total", justify="right"),
    Column("STARTED", "started", no_wrap=True),
    Column("DURATION", "duration", justify="right"),
]
OUTPUT_COLUMNS = [
    Column("INDEX", "index", justify="right"),
    Column("OUTPUT", "output"),
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
def header_lines(manifest: Manifest, phase: Phase, links: list[str]) -> list[str]:
    lp = manifest.launch_plan
    lines = [
        f"execution   {manifest.project}/{manifest.domain}/{manifest.name}",
        f"phase       {phase.describe()}",
        f"launch plan {lp.name} {lp.version}",
        f"backend     {manifest.backend}",
    ]
    if manifest.queue:
        lines.append(f"queue       {manifest.queue.name} ({manifest.queue.reason})")
    if manifest.iam_role_arn:
        lines.append(f"IAM role    {manifest.iam_role_arn}")
    for job in manifest.run.get("jobs") or []:
        lines.append(f"job         {job['jobId']} ({job['size']} children from {job['offset']})")
    directory = (manifest.run.get("local") or {}).get("directory")
    if directory:
        lines.append(f"directory   {directory}")
    lines.append(f"created     {times.shown(manifest.created_at)}")
    if manifest.terminated:
        lines.append(
            f"terminated  {times.shown(manifest.terminated.at)} ({manifest.terminated.reason})"
        )
    lines += [f"console     {link}" for link in links]
    return lines


def child_row(child: Child, links: Callable[[Child], list[str]] | None = None) -> dict[str, Any]:
    return {
        "index": child.index,
        "status": child.status,
        "attempts": len(child.attempts),
        "exitCode": child.exit_code,
        "reason": child.reason,
        "started": child.started_at,
        "duration": times.elapsed(child.started_at, child.stopped_at),
        "logs": "\n".join(links(child)) if links else "",
    }


def submitted(out: Output, executions: Executions, manifest: Manifest, *, waiting: bool) -> None:
    if out.format is not OutputFormat.table:
        out.data(manifest.view())
    phase = executions.status(manifest)
    for line in header_lines(manifest, phase, executions.links(manifest)):
        out.info(line)
    if not waiting:
        out.hint(
            f"follow it: batchmap logs -p {manifest.project} -d {manifest.domain} "
            f"{manifest.name} --follow"
        )


def execution(
    out: Output,
    executions: Executions,
    manifest: Manifest,
    phase: Phase,
    query: ChildQuery,
    children: list[Child] | None = None,
) -> None:
    """One execution with the children ``query`` asks for (read here unless given)."""
    if children is None:
        children = executions.children(manifest, query)
    if out.format is not OutputFormat.table:
        out.data(
            {
                **manifest.view(),
                "status": phase.to_dict(),
                "children": [c.to_dict() for c in children],
            }
        )
        return
    for line in header_lines(manifest, phase, executions.links(manifest)):
        out.text(line)
    out.text("")
    out.table(
        CHILD_COLUMNS,
        [child_row(c, lambda ch: executions.child_links(manifest, ch)) for c in children],
    )
    shown = len(children)
    if query.limit is not None and shown == query.limit and manifest.size > shown:
        out.hint(f"showing {shown} children; --all or --limit N for more")


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
                "phase": phase.phase,
                "succeeded": phase.succeeded,
                "failed": phase.failed,
                "running": phase.running,
                "total": phase.size,
                "started": manifest.created_at,
                "duration": times.elapsed(manifest.created_at, None) if not phase.done else "",
            }
        )
        objects.append({**manifest.view(), "status": phase.to_dict()})
    if not rows:
        out.info(f"no executions in {project}/{domain}")
    out.data(objects, columns=LIST_COLUMNS, rows=rows)


def outputs(out: Output, values: list[Any], producers: list[str | None]) -> None:
    rows = [
        {"index": i, "output": json.dumps(v), "execution": p}
        for i, (v, p) in enumerate(zip(values, producers, strict=True))
    ]
    out.data(values, columns=OUTPUT_COLUMNS, rows=rows)


def terminated(out: Output, result: Terminated) -> None:
    name = result.manifest.name
    what = result.stopped.what if result.stopped else "nothing"
    if result.already_finished:
        out.info(f"execution {name!r} already finished: nothing to terminate")
    elif result.dry_run:
        out.info(f"dry run: would terminate {what}")
    else:
        out.info(f"asked to terminate {name}: {what}")
    if out.format is not OutputFormat.table:
        out.data(result.to_dict())
    else:
        out.success(result.phase.describe())


# -- waiting ------------------------------------------------------------------------------
def progress_table(manifest: Manifest, phase: Phase, children: list[Child]) -> Any:
    from rich.console import Group
    from rich.text import Text

    title = Text(f"{manifest.name}  {phase.describe()}")
    rows = [child_row(c) for c in children]
    return Group(title, Output.make_table(CHILD_COLUMNS[:7], rows))


def wait(out: Output, executions: Executions, manifest: Manifest, *, judge: bool = True) -> Phase:
    """Show progress until the execution ends; with ``judge``, exit 7 below its success
    ratio. Ctrl-C stops what this process runs and says what goes on."""
    last: list[str] = []
    with out.live() as update:

        def show(phase: Phase) -> None:
            if out.interactive:
                children = executions.children(manifest, ChildQuery(limit=LIVE_ROWS))
                update(progress_table(manifest, phase, children))
            elif [phase.describe()] != last:
                out.info(phase.describe())
            last[:] = [phase.describe()]

        try:
            phase = executions.wait(manifest, on_progress=show)
        except KeyboardInterrupt:
            out.info(f"interrupted: {executions.interrupt(manifest)}")
            raise
    if judge:
        require_success(phase)
        out.success(phase.describe())
    return phase


# -- launch plans -------------------------------------------------------------------------
REGISTERED_COLUMNS = [
    Column("NAME", "name"),
    Column("VERSION", "version"),
    Column("PROJECT", "project"),
    Column("DOMAIN", "domain"),
    Column("STATUS", "status"),
]


def registered(out: Output, done: Registered, where: str) -> None:
    from batchmap.launchplans.registry import plan_summary

    for name, why in done.skipped:
        out.warn(f"Flyte launch plan {name} not registered: {why}")
    results = done.registrations
    for r in results:
        for note in done.notes.get(r.plan.key, []):
            out.info(f"{r.plan.name}: {note}")
    rows = [
        {
            **plan_summary(r.plan),
            "project": r.plan.project,
            "domain": r.plan.domain,
            "status": r.status,
        }
        for r in results
    ]
    out.data(
        [
            {
                "status": r.status,
                "launchPlan": r.plan.to_dict(),
                "notes": done.notes.get(r.plan.key, []),
            }
            for r in results
        ],
        columns=REGISTERED_COLUMNS,
        rows=rows,
    )
    new = sum(r.status == "registered" for r in results)
    out.success(f"{new} registered, {len(results) - new} unchanged in {where}")
