"""`batchmap delete execution` (alias: `batchmap terminate execution`)."""

from __future__ import annotations

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, OutputOpt, ProjectOpt
from batchmap.cli.output import OutputFormat

app = typer.Typer(help="Stop resources: executions.", no_args_is_help=True)


@app.command("execution")
def execution(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: Annotated[str, typer.Argument(help="Execution name.", show_default=False)],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded by AWS Batch and the manifest).")
    ] = "Terminated with batchmap",
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once asked; do not wait until stopped.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dryRun", "--dry-run", help="Say what would stop; change nothing.")
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Terminate an execution: cancel its children not yet started, stop running ones.

    Waits until AWS Batch (or the local supervisor) confirms, unless --no-wait.
    An execution that already finished is left as it is (exit 0).

    Examples:

    \b
      batchmap delete execution -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a
      batchmap terminate execution -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --no-wait
    """
    from batchmap.cli import views as progress
    from batchmap.executions import model as executions

    state = app_state(ctx)
    out = state.output(output)
    store = state.execution_store()
    manifest = executions.load(store, project, domain, name)
    backend = state.backend(manifest.backend)
    counts = backend.counts(manifest)
    finished = counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) >= manifest.size
    result: dict = {"execution": name, "finished": finished}
    if finished:
        out.info(f"execution {name!r} already finished: nothing to terminate")
    else:
        stopped = backend.terminate(manifest, reason, dry_run=dry_run)
        result["stopped"] = stopped
        if dry_run:
            out.info(f"dry run: would terminate {stopped or 'nothing'}")
        else:
            manifest.data["terminated"] = {"at": executions.iso(executions.now()), "reason": reason}
            executions.save(store, manifest)
            out.info(f"asked to terminate {name}: {stopped or 'nothing was running'}")
            if not no_wait:
                counts = progress.wait_terminal(backend, manifest)
                progress.settle(store, backend, manifest, counts)
                result["finished"] = (
                    counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) >= manifest.size
                )
    phase = executions.phase_of(counts, manifest.size, manifest.min_successes)
    result["status"] = phase.to_dict()
    if out.format is not OutputFormat.table:
        out.data(result)
    else:
        out.success(phase.describe())
