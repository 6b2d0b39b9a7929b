"""`batchmap get execution`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, OutputOpt, ProjectOpt
from batchmap.cli.output import Column, OutputFormat

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


def execution(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: Annotated[str | None, typer.Argument(help="Execution name.", show_default=False)] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only children in this status (repeat or comma-separate).",
            show_default=False,
        ),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option("--index", help="Only these children: 3,17-20.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many children.")] = 50,
    show_all: Annotated[bool, typer.Option("--all", help="Every child (no --limit).")] = False,
    outputs: Annotated[
        bool,
        typer.Option(
            "--outputs", help="Print the outputs in index order (null for children without one)."
        ),
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep the view live until the end; exit 0 or 7.")
    ] = False,
    output: OutputOpt = None,
) -> None:
    """List executions, or show one with its children.

    Without NAME: every execution of the project and domain, newest first, with
    its phase. With NAME: the execution and its children, non-succeeded first.

    Examples:

    \b
      batchmap get execution -p flytesnacks -d development
      batchmap get execution -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --status FAILED
      batchmap get execution -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --outputs -o json
    """
    from batchmap.backends.base import ChildQuery
    from batchmap.cli import views as progress
    from batchmap.cli.selection import parse_indexes, parse_statuses
    from batchmap.executions import model as executions
    from batchmap.executions.outputs import gather

    state = app_state(ctx)
    out = state.output(output)
    store = state.execution_store()
    if name is None:
        rows, objects = [], []
        manifests = executions.list_manifests(store, project, domain)
        counts = {}
        for name_of_backend in sorted({m.backend for m in manifests}):
            group = [m for m in manifests if m.backend == name_of_backend]
            # One call per 100 array jobs for all the executions of a backend.
            for m, c in zip(group, state.backend(name_of_backend).counts_many(group), strict=True):
                counts[m.name] = c
        for manifest in manifests:
            phase = executions.phase_of(
                counts[manifest.name], manifest.size, manifest.min_successes
            )
            lp = manifest.data["launchPlan"]
            created = manifest.created_at
            rows.append(
                {
                    "name": manifest.name,
                    "launchPlan": lp["name"],
                    "version": lp["version"],
                    "backend": manifest.backend,
                    "queue": (manifest.data.get("queue") or {}).get("name"),
                    "phase": phase.phase,
                    "succeeded": phase.succeeded,
                    "failed": phase.failed,
                    "running": phase.running,
                    "total": phase.size,
                    "started": created,
                    "duration": progress.duration(created, None) if not phase.done else "",
                }
            )
            objects.append({**manifest.to_dict(), "status": phase.to_dict()})
        if not rows:
            out.info(f"no executions in {project}/{domain}")
        out.data(objects, columns=LIST_COLUMNS, rows=rows)
        return
    manifest = executions.load(store, project, domain, name)
    backend = state.backend(manifest.backend)
    if outputs:
        values, producers = gather(store, manifest)
        rows = [
            {"index": i, "output": json.dumps(v), "execution": p}
            for i, (v, p) in enumerate(zip(values, producers, strict=True))
        ]
        out.data(
            values,
            columns=[
                Column("INDEX", "index", justify="right"),
                Column("OUTPUT", "output"),
                Column("FROM", "execution"),
            ],
            rows=rows,
        )
        return
    query = ChildQuery(
        statuses=parse_statuses(status),
        indexes=parse_indexes(index, manifest.size),
        limit=None if show_all else limit,
    )
    if watch:
        progress.wait(backend, manifest, out)
    counts = backend.counts(manifest)
    phase = executions.phase_of(counts, manifest.size, manifest.min_successes)
    if phase.done:
        progress.settle(store, backend, manifest, counts)
    children = backend.children(manifest, query)
    links = getattr(backend, "child_links", None)
    if out.format is not OutputFormat.table:
        out.data(
            {
                **manifest.to_dict(),
                "status": phase.to_dict(),
                "children": [c.to_dict() for c in children],
            }
        )
    else:
        for line in progress.header_lines(
            manifest, phase, getattr(backend, "links", lambda m: [])(manifest)
        ):
            out.text(line)
        out.text("")
        out.table(
            progress.CHILD_COLUMNS,
            [
                progress.child_row(c, (lambda ch: links(manifest, ch)) if links else None)
                for c in children
            ],
        )
        shown = len(children)
        if query.limit is not None and shown == query.limit and manifest.size > shown:
            out.hint(f"showing {shown} children; --all or --limit N for more")
    if watch:
        progress.check(phase)
