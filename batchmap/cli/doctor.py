"""`batchmap doctor`."""

from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import OutputOpt, WideOpt
from batchmap.cli.output import OutputFormat
from batchmap.cli.tables import Column

COLUMNS = [
    Column("CHECK", "check", no_wrap=True),
    Column("STATUS", "status", no_wrap=True),
    Column("DETAIL", "message"),
    Column("FIX", "fix"),
]


def doctor(
    ctx: typer.Context,
    aws: Annotated[
        bool, typer.Option("--aws", help="Check AWS too with the local backend.")
    ] = False,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="Check this IAM role (default: setup.userRole's and flyteadmin.assumableIamRole).",
            show_default=False,
        ),
    ] = None,
    print_policy: Annotated[
        bool,
        typer.Option(
            "--print-policy",
            help="Print the least-privilege IAM policy batchmap itself needs, and exit.",
        ),
    ] = False,
    wide: WideOpt = False,
    output: OutputOpt = None,
) -> None:
    """Check the setup: config, storage, credentials, queues, compute environments, role.

    Every check is a row: ok, warn, unverified or fail. Exits 0 when nothing
    failed and 5 otherwise. With the local backend, AWS is checked only with
    --aws. Without --role it checks the role 'batchmap setup' makes
    (setup.userRole) and flyteadmin.assumableIamRole.

    Examples:

    \b
      batchmap doctor
      batchmap doctor --role arn:aws:iam::123456789012:role/batchmap-task -o json
      batchmap doctor --print-policy > batchmap-policy.json
    """
    from batchmap.cli.output import to_json
    from batchmap.errors import AwsRefusedError
    from batchmap.setup.doctor import failed, policy, run_checks

    state = app_state(ctx)
    out = state.output(output, wide=wide)
    config = state.config
    if print_policy:
        out.text(to_json(policy(config)))
        return
    uses_aws = (
        aws
        or config.backend == "aws"
        or any(loc.startswith("s3://") for loc in (config.storage, config.registry))
    )
    clients = state.app.clients if uses_aws else None
    checks = run_checks(config, clients, role)
    rows = [c.to_dict() for c in checks]
    if out.format is OutputFormat.table:
        out.table(COLUMNS, rows)
    else:
        out.data(rows)
    bad = failed(checks)
    if bad:
        raise AwsRefusedError(
            f"doctor: {len(bad)} check{'s' if len(bad) > 1 else ''} failed: "
            + ", ".join(c.name for c in bad)
        )
    out.success("everything batchmap needs is in place")
