"""`batchmap relaunch`."""

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import (
    DomainOpt,
    DryRunOpt,
    IndexOpt,
    NameArg,
    NewNameOpt,
    OutputOpt,
    ProjectOpt,
    WaitOpt,
)
from batchmap.cli.output import OutputFormat


def relaunch(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: NameArg,
    failed: Annotated[bool, typer.Option("--failed", help="Re-run its failed children.")] = False,
    index: IndexOpt = None,
    new_name: NewNameOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    output: OutputOpt = None,
) -> None:
    """Re-run only some children of an execution, keeping their original indexes.

    Creates a new execution with just the chosen children (its manifest names
    the original). Each child gets its original item, {{ index }} and output
    file. The original then shows the merged result (for each child, its latest
    attempt): its phase, children and --outputs; --wait exits 0 or 7 by it.

    Examples:

    \b
      batchmap relaunch -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --failed
      batchmap relaunch -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --index 3,17-20 --wait
    """
    from batchmap.cli import views
    from batchmap.cli.selection import format_indexes, parse_indexes
    from batchmap.errors import UsageError

    state = app_state(ctx)
    out = state.output(output)
    if not failed and not index:
        raise UsageError("say what to re-run: --failed and/or --index 3,17-20")
    manifest = state.executions.get(project, domain, name)
    indexes = state.executions.relaunch_indexes(
        manifest, failed=failed, indexes=parse_indexes(index)
    )
    if not indexes:
        out.info(f"nothing to relaunch: execution {name!r} has no failed children")
        if out.format is not OutputFormat.table:
            out.data({"relaunched": None, "indexes": []})
        return
    plan = state.executions.plan_relaunch(manifest, indexes, new_name)
    views.notes(out, plan)
    what = f"{len(indexes)} children of {name} as {plan.name}: {format_indexes(indexes)}"
    if dry_run:
        return views.dry_run(out, plan, f"would relaunch {what}")
    created = state.executions.submit(plan, foreground=wait)
    if out.format is not OutputFormat.table:
        out.data(created.view())
    out.info(f"relaunched {what}")
    if wait:  # exits by the merged result of the root and its relaunches
        views.wait(out, state.executions, created, cli=state.cli)
