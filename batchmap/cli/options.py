"""Options shared by several commands, spelled as in flytectl."""

from __future__ import annotations

from typing import Annotated

import typer

from batchmap.cli.complete import complete_execution, complete_status
from batchmap.cli.output import OutputFormat

OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="Output format (overrides the global -o).",
        case_sensitive=False,
        show_default=False,
    ),
]
ProjectOpt = Annotated[
    str,
    typer.Option(
        "--project",
        "-p",
        envvar="BATCHMAP_PROJECT",
        help="Project (or BATCHMAP_PROJECT).",
        show_default=False,
    ),
]
DomainOpt = Annotated[
    str,
    typer.Option(
        "--domain",
        "-d",
        envvar="BATCHMAP_DOMAIN",
        help="Domain (or BATCHMAP_DOMAIN).",
        show_default=False,
    ),
]
OptionalProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        envvar="BATCHMAP_PROJECT",
        help="Project (or BATCHMAP_PROJECT).",
        show_default=False,
    ),
]
OptionalDomainOpt = Annotated[
    str | None,
    typer.Option(
        "--domain",
        "-d",
        envvar="BATCHMAP_DOMAIN",
        help="Domain (or BATCHMAP_DOMAIN).",
        show_default=False,
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dryRun", "--dry-run", help="Print the plan; change nothing.")
]
NameArg = Annotated[
    str,
    typer.Argument(help="Execution name.", show_default=False, autocompletion=complete_execution),
]
OptionalNameArg = Annotated[
    str | None,
    typer.Argument(help="Execution name.", show_default=False, autocompletion=complete_execution),
]
IndexOpt = Annotated[
    str | None,
    typer.Option(
        "--index",
        help="Only these children, by their (original) index: 3,17-20.",
        show_default=False,
    ),
]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        help="Only children in this status (repeat or comma-separate).",
        show_default=False,
        autocompletion=complete_status,
    ),
]
WaitOpt = Annotated[
    bool,
    typer.Option(
        "--wait", help="Show progress until the end; exit 0, or 7 below the success ratio."
    ),
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide", help="Every column, values in full (tables otherwise fit the terminal)."
    ),
]
