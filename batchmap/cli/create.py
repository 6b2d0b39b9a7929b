"""`batchmap create execution`."""

from pathlib import Path
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, DryRunOpt, OutputOpt, ProjectOpt, WaitOpt

app = typer.Typer(help="Create resources: executions.", no_args_is_help=True)

ExecFileOpt = Annotated[
    Path,
    typer.Option(
        "--execFile", "--exec-file", help="The exec file (flytectl's format).", show_default=False
    ),
]


def _opt(*names: str, help: str) -> object:
    return typer.Option(*names, help=help, show_default=False)


@app.command("execution")
def execution(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    exec_file: ExecFileOpt,
    name_arg: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME]", help="Execution name (default: generated).", show_default=False
        ),
    ] = None,
    name: Annotated[str | None, _opt("--name", help="Execution name.")] = None,
    iam_role: Annotated[
        str | None,
        _opt(
            "--iamRoleARN",
            "--iam-role-arn",
            help="IAM role the children run as (overrides the file).",
        ),
    ] = None,
    service_account: Annotated[
        str | None,
        _opt("--kubeServiceAcct", "--kube-service-acct", help="Kubernetes service account (EKS)."),
    ] = None,
    target_project: Annotated[
        str | None,
        _opt(
            "--targetProject",
            "--target-project",
            help="Project to record the execution in (default: -p).",
        ),
    ] = None,
    target_domain: Annotated[
        str | None,
        _opt(
            "--targetDomain",
            "--target-domain",
            help="Domain to record the execution in (default: -d).",
        ),
    ] = None,
    version: Annotated[
        str | None, _opt("--version", help="Launch plan version (overrides the file).")
    ] = None,
    queue: Annotated[
        str | None, _opt("--queue", help="AWS Batch job queue (overrides matching).")
    ] = None,
    backend: Annotated[
        str | None, _opt("--backend", help="local or aws (default: the config's).")
    ] = None,
    items: Annotated[
        list[str] | None,
        _opt(
            "--items",
            help="NAME=PATH: a list input's items from a .txt/.jsonl/.json/.csv file or an "
            "s3:// object; NAME=s3://BUCKET/PREFIX/ (or .../*.jpg) for one item per object. "
            "Repeatable; overrides the file.",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    output: OutputOpt = None,
) -> None:
    """Run a launch plan: one child per item of its mapped list.

    Checks the exec file against the launch plan before anything else, stages
    the inputs, records the execution and submits it. --dryRun prints the whole
    plan and changes nothing. With --wait, shows live progress (a plain line at
    most every 10 s when not on a terminal), then a summary: failed children,
    the success ratio, wall time and the commands to run next. Exits 0 when the
    execution met its success ratio, 7 when not; Ctrl-C exits 130.

    Examples:

    \b
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml --wait
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml --dryRun -o json
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml \\
          --items numbers=s3://my-bucket/numbers.jsonl
    """
    from batchmap.cli import views
    from batchmap.errors import UsageError
    from batchmap.executions.plan import ExecutionRequest

    state = app_state(ctx)
    out = state.output(output)
    if name and name_arg and name != name_arg:
        raise UsageError(f"two names given: {name_arg!r} and --name {name!r}")
    state.show_warnings(out)
    request = ExecutionRequest(
        project=project,
        domain=domain,
        exec_file=state.path(exec_file),
        name=name or name_arg,
        iam_role_arn=iam_role,
        kube_service_account=service_account,
        target_project=target_project,
        target_domain=target_domain,
        version=version,
        queue=queue,
        backend=backend,
        items=tuple(items or ()),
        cwd=state.env.cwd,
    )
    plan = state.executions.plan(request)
    views.notes(out, plan)
    if dry_run:
        return views.dry_run(out, plan)
    manifest = state.executions.submit(plan, foreground=wait)
    views.submitted(out, state.executions, manifest, waiting=wait)
    if wait:
        views.wait(out, state.executions, manifest, cli=state.cli)
