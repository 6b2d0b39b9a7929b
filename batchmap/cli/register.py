"""`batchmap register files`."""

from pathlib import Path
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import OptionalDomainOpt, OptionalProjectOpt, OutputOpt

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
    from batchmap.cli import views

    state = app_state(ctx)
    out = state.output(output)
    done = state.app.register(
        [state.path(p) for p in paths], project=project, domain=domain, version=version
    )
    views.registered(out, done, state.config.registry)
