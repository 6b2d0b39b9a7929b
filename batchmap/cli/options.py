"""Options shared by several commands, spelled as in flytectl."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from batchmap.cli.complete import complete_execution, complete_status
from batchmap.cli.output import OutputFormat

# Projects and domains as launch plan files spell them (launchplan.schema.json): they
# become folder names and S3 key segments, so nothing else may reach the store.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def _identifier(flag: str) -> object:
    def check(value: str | None) -> str | None:
        from batchmap.errors import InvalidInputError

        if value is not None and not IDENTIFIER.match(value):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise InvalidInputError(
                f"{flag}: {shown!r} is not a project or domain name: use 1-63 letters, digits, "
                "'-' or '_', starting with a letter or digit"
            )
        return value

    return check


def _execution_name(value: str | None) -> str | None:
    from batchmap.executions.names import check_name

    return check_name(value) if value is not None else None


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
# Declared once: a command needs them (ProjectOpt), or takes them with a default or none.
_PROJECT = typer.Option(
    "--project",
    "-p",
    envvar="BATCHMAP_PROJECT",
    help="Project (or BATCHMAP_PROJECT).",
    callback=_identifier("--project"),
)
_DOMAIN = typer.Option(
    "--domain",
    "-d",
    envvar="BATCHMAP_DOMAIN",
    help="Domain (or BATCHMAP_DOMAIN).",
    callback=_identifier("--domain"),
)
ProjectOpt = Annotated[str, _PROJECT]
DomainOpt = Annotated[str, _DOMAIN]
OptionalProjectOpt = Annotated[str | None, _PROJECT]
OptionalDomainOpt = Annotated[str | None, _DOMAIN]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dryRun", "--dry-run", help="Print the plan; change nothing.")
]
_NAME = typer.Argument(
    help="Execution name.",
    show_default=False,
    autocompletion=complete_execution,
    callback=_execution_name,
)
NameArg = Annotated[str, _NAME]
OptionalNameArg = Annotated[str | None, _NAME]
NewNameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", help="Name of the new execution (default: generated).", show_default=False
    ),
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
