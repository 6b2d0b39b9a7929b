"""`batchmap relaunch`."""

from __future__ import annotations

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, DryRunOpt, OutputOpt, ProjectOpt
from batchmap.cli.output import OutputFormat


def relaunch(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: Annotated[str, typer.Argument(help="The execution to relaunch.", show_default=False)],
    failed: Annotated[bool, typer.Option("--failed", help="Re-run its failed children.")] = False,
    index: Annotated[
        str | None,
        typer.Option(
            "--index", help="Re-run these (original) indexes: 3,17-20.", show_default=False
        ),
    ] = None,
    new_name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Name of the new execution (default: generated).", show_default=False
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until the end; exit 0 or 7.")
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Re-run only some children of an execution, keeping their original indexes.

    Creates a new execution with just the chosen children (its manifest names
    the original). Each child gets its original item, {{ index }} and output
    file, so 'get execution --outputs' on the original shows the merged result.

    Examples:

    \b
      batchmap relaunch -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --failed
      batchmap relaunch -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --index 3,17-20 --wait
    """
    from batchmap.cli import views as progress
    from batchmap.cli.selection import parse_indexes
    from batchmap.errors import InvalidInputError
    from batchmap.executions import model as executions
    from batchmap.executions import relaunch as relaunching

    state = app_state(ctx)
    out = state.output(output)
    if not failed and not index:
        raise InvalidInputError("say what to re-run: --failed and/or --index 3,17-20")
    store = state.execution_store()
    manifest = executions.load(store, project, domain, name)
    backend = state.backend(manifest.backend)
    indexes = relaunching.choose_indexes(
        manifest, backend, failed=failed, indexes=parse_indexes(index)
    )
    if not indexes:
        out.info(f"nothing to relaunch: execution {name!r} has no failed children")
        if out.format is not OutputFormat.table:
            out.data({"relaunched": None, "indexes": []})
        return
    plan = relaunching.plan(manifest, indexes, new_name)
    plan.details.update(backend.finalize(plan))
    plan.details.pop("notes", None)
    for warning in plan.details.pop("warnings", []):
        out.warn(warning)
    if dry_run:
        out.data(plan.to_dict()) if out.format is not OutputFormat.table else out.text(
            f"would relaunch {len(indexes)} children of {name} as {plan.name}: {_ranges(indexes)}"
        )
        out.info("dry run: nothing was staged, registered or submitted")
        return
    created = executions.create(plan, store, backend, foreground=wait)
    if out.format is not OutputFormat.table:
        out.data(created.to_dict())
    out.info(f"relaunched {len(indexes)} children of {name} as {created.name}: {_ranges(indexes)}")
    if wait:
        try:
            phase = progress.wait(backend, created, out, store=store)
        except KeyboardInterrupt:
            out.info(f"interrupted: {backend.on_interrupt(created)}")
            raise
        out.success(phase.describe())


def _ranges(indexes: list[int]) -> str:
    """[3, 17, 18, 19, 20] -> "3,17-20" (the --index syntax)."""
    parts: list[str] = []
    start = prev = None
    for i in indexes:
        if start is None:
            start = prev = i
        elif i == prev + 1:  # type: ignore[operator]
            prev = i
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    text = ",".join(parts)
    return text if len(text) <= 200 else text[:197] + "..."
