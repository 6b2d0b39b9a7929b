"""`batchmap register files`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import OptionalDomainOpt, OptionalProjectOpt, OutputOpt
from batchmap.cli.output import Column

app = typer.Typer(help="Register launch plans.", no_args_is_help=True)


@app.command("files")
def files(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Launch plan files (YAML; several documents allowed).",
            metavar="FILE...",
            show_default=False,
        ),
    ],
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Version for every launch plan of the files.", show_default=False
        ),
    ] = None,
    project: OptionalProjectOpt = None,
    domain: OptionalDomainOpt = None,
    output: OutputOpt = None,
) -> None:
    """Validate launch plan files, then register them (all or nothing).

    Every file is checked first; if any problem is found nothing is registered.
    A version is immutable: registering it again with the same content is a
    no-op, with other content an error that names the differences. -p, -d and
    --version override the files' project, domain and version.

    Examples:

    \b
      batchmap register files examples/squares.yaml
      batchmap register files lp/*.yaml -p flytesnacks -d development --version v2
    """
    from batchmap.errors import InvalidInputError
    from batchmap.flyte.notes import launch_plan_notes
    from batchmap.launchplans.model import Overrides, parse_all
    from batchmap.launchplans.registry import plan_summary

    state = app_state(ctx)
    out = state.output(output)
    absolute = [p if p.is_absolute() else state.env.cwd / p for p in paths]
    plans, skipped = parse_all(
        absolute, Overrides(project, domain, version), state.settings.flyte_secrets
    )
    for name, why in skipped:
        out.warn(f"Flyte launch plan {name} not registered: {why}")
    notes = {plan.key: launch_plan_notes(plan) for plan in plans}
    for plan in plans:
        for note in notes[plan.key]:
            out.info(f"{plan.name}: {note}")
    if not plans:
        raise InvalidInputError(
            "no launch plan batchmap can run in these files",
            hint="batchmap runs workflows whose only node is a map task (flytekit's map_task "
            "or legacy_map_task.map_task)",
        )
    results = state.registry().register(plans)
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
            {"status": r.status, "launchPlan": r.plan.to_dict(), "notes": notes[r.plan.key]}
            for r in results
        ],
        columns=[
            Column("NAME", "name"),
            Column("VERSION", "version"),
            Column("PROJECT", "project"),
            Column("DOMAIN", "domain"),
            Column("STATUS", "status"),
        ],
        rows=rows,
    )
    new = sum(r.status == "registered" for r in results)
    out.success(f"{new} registered, {len(results) - new} unchanged in {state.settings.registry}")
