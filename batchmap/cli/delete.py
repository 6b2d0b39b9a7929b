"""`batchmap delete execution` (alias: `batchmap terminate execution`)."""

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, NameArg, OutputOpt, ProjectOpt

app = typer.Typer(help="Stop resources: executions.", no_args_is_help=True)


@app.command("execution")
def execution(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: NameArg,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why: recorded in the manifest and given to every stopped child "
            "(default: aborted with batchmap delete execution).",
            show_default=False,
        ),
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once asked; do not wait until stopped.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dryRun", "--dry-run", help="Say what would stop; change nothing.")
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Abort an execution: cancel its children not yet started, stop running ones.

    The execution's phase becomes ABORTED, and every child it stopped carries the
    reason. Waits until AWS Batch (or the local supervisor) confirms, unless
    --no-wait. An execution that already finished is left as it is (exit 0).

    Examples:

    \b
      batchmap delete execution -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a
      batchmap terminate execution -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --no-wait
    """
    from batchmap.cli import views
    from batchmap.executions.phase import ABORT_REASON

    state = app_state(ctx)
    out = state.output(output)
    manifest = state.executions.get(project, domain, name)
    result = state.executions.terminate(
        manifest, reason or ABORT_REASON, wait=not no_wait, dry_run=dry_run
    )
    views.terminated(out, result)
