"""`batchmap setup`."""

import shlex
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from batchmap.cli.context import GlobalOptions, app_state
from batchmap.cli.options import DryRunOpt
from batchmap.cli.output import Output, OutputFormat
from batchmap.cli.tables import Column

if TYPE_CHECKING:
    from batchmap.setup.plan import Outcome


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
    ('batchmap config init --backend aws' writes one). With no
    subnets and security groups there, it uses the account's default VPC. Each
    resource is created when missing, reported as already there, or as
    differing — and then changed only with --update. Ends with the role ARN for
    exec files' iamRoleARN and the next command; a run that AWS stops midway
    says what it created, and a re-run finishes it.
    -o cloudformation prints the same resources as a CloudFormation template.
    Never prompts; run 'batchmap doctor' afterwards.

    Examples:

    \b
      batchmap setup --dryRun
      batchmap setup
      batchmap setup -o cloudformation > batchmap-stack.yaml
    """
    from batchmap.cli.output import to_yaml
    from batchmap.setup.cfn import cloudformation
    from batchmap.setup.plan import setup as run_setup

    state = app_state(ctx)
    if output is SetupOutput.cloudformation:
        state.output(OutputFormat.yaml).text(to_yaml(cloudformation(state.config)))
        return
    out = state.output(OutputFormat(output.value) if output else None)
    outcome = run_setup(state.app.clients, state.config, dry_run=dry_run, update=update)
    rows = [c.to_dict() for c in outcome.plan.changes]
    out.data(rows, columns=COLUMNS, rows=rows)
    _report(out, outcome, dry_run=dry_run, again=_command(state.options))


def _command(options: GlobalOptions) -> Callable[[str], str]:
    """The exact command line of another batchmap command, with this run's global options."""
    words = ["batchmap"]
    for flag, value in (
        ("--config", options.config_path),
        ("--region", options.region),
        ("--profile", options.profile),
        ("--endpoint-url", options.endpoint_url),
    ):
        if value:
            words += [flag, value]
    return lambda command: shlex.join(words) + " " + command


def _report(out: Output, outcome: "Outcome", *, dry_run: bool, again: Callable[[str], str]) -> None:
    plan = outcome.plan
    for note in plan.notes:
        out.info(note)
    if outcome.error is not None:
        done = ", ".join(f"{c.resource.label} {c.name}" for c in outcome.created) or "nothing"
        left = ", ".join(f"{c.resource.label} {c.name}" for c in outcome.not_done)
        out.warn(f"setup stopped: created {done}; not done: {left}")
        out.info(f"re-run '{again('setup')}' to finish: what exists is kept")
        raise outcome.error
    if dry_run:
        out.info(
            f"dry run: {plan.count('create')} to create, {plan.count('differs')} differ, "
            f"{plan.count('exists')} already there; nothing was changed"
        )
    elif plan.count("created") or plan.count("updated"):
        out.success(
            f"{plan.count('created')} created, {plan.count('updated')} updated, "
            f"{plan.count('exists')} already there"
        )
    else:
        out.success(f"nothing to do: {plan.count('exists')} already there")
    if plan.count("differs"):
        out.warn(
            f"{plan.count('differs')} resources differ from the config and were left alone "
            "(re-run with --update to change them)"
        )
    out.info(f"iamRoleARN for exec files: {plan.user_role_arn}")
    out.info(f"next: {again('setup' if dry_run else 'doctor')}")
