"""`batchmap get execution`."""

from __future__ import annotations

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, IndexOpt, OutputOpt, ProjectOpt, StatusOpt


def execution(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: Annotated[str | None, typer.Argument(help="Execution name.", show_default=False)] = None,
    status: StatusOpt = None,
    index: IndexOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many children.", min=0)] = 50,
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
    from batchmap.cli import views
    from batchmap.cli.selection import parse_indexes, parse_statuses
    from batchmap.executions.lifecycle import require_success

    state = app_state(ctx)
    out = state.output(output)
    executions = state.executions
    if name is None:
        return views.listing(out, executions.list(project, domain), project, domain)
    manifest = executions.get(project, domain, name)
    if outputs:
        return views.outputs(out, *executions.outputs(manifest))
    query = ChildQuery(
        statuses=parse_statuses(status),
        indexes=parse_indexes(index, manifest.size if not manifest.relaunch else None),
        limit=None if show_all else limit,
    )
    phase = (
        views.wait(out, executions, manifest, judge=False) if watch else executions.status(manifest)
    )
    views.execution(out, executions, manifest, phase, query)
    if watch:
        require_success(phase)
