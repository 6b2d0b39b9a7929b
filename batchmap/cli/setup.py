"""`batchmap setup`."""

from enum import Enum
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DryRunOpt
from batchmap.cli.output import Column, OutputFormat


class SetupOutput(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    cloudformation = "cloudformation"


COLUMNS = [
    Column("RESOURCE", "resource", no_wrap=True),
    Column("NAME", "name"),
    Column("ACTION", "action", no_wrap=True),
    Column("DETAIL", "detail"),
]


def setup(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    update: Annotated[
        bool, typer.Option("--update", help="Also change resources that differ from the config.")
    ] = False,
    output: Annotated[
        SetupOutput | None,
        typer.Option(
            "--output",
            "-o",
            help="table, json, yaml, or cloudformation (print a "
            "template instead of touching the account).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create the AWS side of Flyte's guide: compute environment, job queues, roles, bucket.

    Reads queues.executionQueues and the setup: section of the config
    (docs/setup.md). Each resource is created when missing, reported as
    already there, or as differing — and then changed only with --update.
    -o cloudformation prints the same resources as a CloudFormation template.
    Never prompts; run 'batchmap doctor' afterwards.

    Examples:

    \b
      batchmap setup --dryRun
      batchmap setup
      batchmap setup -o cloudformation > batchmap-stack.yaml
    """
    from batchmap.aws.clients import DEFAULT_REGION
    from batchmap.cli.output import to_yaml
    from batchmap.setup.apply import Provisioner
    from batchmap.setup.cfn import template
    from batchmap.setup.spec import desired

    state = app_state(ctx)
    config = state.config
    if output is SetupOutput.cloudformation:
        want = desired(config, "${AWS::AccountId}", config.region or DEFAULT_REGION)
        state.output(OutputFormat.yaml).text(to_yaml(template(want)))
        return
    out = state.output(OutputFormat(output.value) if output else None)
    provisioner = Provisioner.for_account(state.app.clients, config)
    changes = provisioner.plan()
    if not dry_run:
        provisioner.apply(changes, update=update)
    rows = [c.to_dict() for c in changes]
    out.data(rows, columns=COLUMNS, rows=rows)
    count = {
        a: sum(c.action == a for c in changes)
        for a in ("create", "created", "updated", "differs", "exists")
    }
    if dry_run:
        out.info(
            f"dry run: {count['create']} to create, {count['differs']} differ, "
            f"{count['exists']} already there; nothing was changed"
        )
    elif count["created"] or count["updated"]:
        out.success(
            f"{count['created']} created, {count['updated']} updated, "
            f"{count['exists']} already there"
        )
    else:
        out.success(f"nothing to do: {count['exists']} already there")
    if count["differs"]:
        out.warn(
            f"{count['differs']} resources differ from the config and were left alone "
            "(re-run with --update to change them)"
        )
