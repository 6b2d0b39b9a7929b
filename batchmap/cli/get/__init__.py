"""`batchmap get ...`: show resources."""

from __future__ import annotations

import typer

from batchmap.cli.get import execution, launchplan, queue

app = typer.Typer(help="Show resources: launch plans, executions, queues.", no_args_is_help=True)
app.command("launchplan")(launchplan.launchplan)
app.command("launchplans", hidden=True)(launchplan.launchplan)
app.command("execution")(execution.execution)
app.command("executions", hidden=True)(execution.execution)
app.command("queue")(queue.queue)
app.command("queues", hidden=True)(queue.queue)
