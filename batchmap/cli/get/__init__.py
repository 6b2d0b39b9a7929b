"""`batchmap get ...`: show resources."""

from __future__ import annotations

import typer

from batchmap.cli.get import execution, launchplan

app = typer.Typer(help="Show resources: launch plans, executions.", no_args_is_help=True)
app.command("launchplan")(launchplan.launchplan)
app.command("launchplans", hidden=True)(launchplan.launchplan)
app.command("execution")(execution.execution)
app.command("executions", hidden=True)(execution.execution)
