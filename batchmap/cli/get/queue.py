"""`batchmap get queue`."""

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, OutputOpt, ProjectOpt
from batchmap.cli.output import OutputFormat
from batchmap.cli.tables import Column

STEP_COLUMNS = [
    Column("RULE", "rule", no_wrap=True),
    Column("ENTRY", "entry"),
    Column("MATCHED", "matched"),
    Column("WHY", "why"),
]


def queue(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    workflow: Annotated[
        str,
        typer.Option(
            "--workflow", help="Workflow name (a launch plan's 'workflow').", show_default=False
        ),
    ],
    execution: Annotated[
        str,
        typer.Option(
            "--execution", help="Execution name (picks among several queues with the same tag)."
        ),
    ] = "",
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Show every rule and entry with matched / not matched and why."
        ),
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Show which AWS Batch job queue an execution would go to, and why.

    Applies FlyteAdmin's matching to the config's queues block (and
    executionQueueAttributes overrides): the first workflowConfigs entry whose
    project, domain and workflow match, then a queue with all its tags. Exits 4
    when no queue matches.

    Examples:

    \b
      batchmap get queue -p production -d production --workflow my_workflow_2
      batchmap get queue -p flytesnacks -d development --workflow squares --explain
    """
    from batchmap.executions.queues import NoQueueError, choose_queue

    state = app_state(ctx)
    out = state.output(output)
    config = state.config
    try:
        choice = choose_queue(
            project=project,
            domain=domain,
            workflow=workflow,
            execution=execution,
            queues=config.queues,
            attributes=config.queue_attributes,
        )
    except NoQueueError as exc:
        if explain and out.format is OutputFormat.table:
            out.table(STEP_COLUMNS, [s.to_dict() for s in exc.steps])
        raise
    if out.format is not OutputFormat.table:
        out.data(choice.to_dict())
        return
    out.text(f"{choice.queue}\t{choice.reason}")
    if explain:
        out.table(STEP_COLUMNS, [s.to_dict() for s in choice.steps])
