"""`batchmap create execution`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, DryRunOpt, OutputOpt, ProjectOpt
from batchmap.cli.output import OutputFormat

app = typer.Typer(help="Create resources: executions.", no_args_is_help=True)


@app.command("execution")
def execution(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    exec_file: Annotated[
        Path,
        typer.Option(
            "--execFile",
            "--exec-file",
            help="The exec file (flytectl's format).",
            show_default=False,
        ),
    ],
    name_arg: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME]", help="Execution name (default: generated).", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Execution name.", show_default=False)
    ] = None,
    iam_role: Annotated[
        str | None,
        typer.Option(
            "--iamRoleARN",
            "--iam-role-arn",
            help="IAM role the children run as (overrides the file).",
            show_default=False,
        ),
    ] = None,
    service_account: Annotated[
        str | None,
        typer.Option(
            "--kubeServiceAcct",
            "--kube-service-acct",
            help="Kubernetes service account (EKS).",
            show_default=False,
        ),
    ] = None,
    target_project: Annotated[
        str | None,
        typer.Option(
            "--targetProject",
            "--target-project",
            help="Project to record the execution in (default: -p).",
            show_default=False,
        ),
    ] = None,
    target_domain: Annotated[
        str | None,
        typer.Option(
            "--targetDomain",
            "--target-domain",
            help="Domain to record the execution in (default: -d).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Launch plan version (overrides the file).", show_default=False
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue", help="AWS Batch job queue (overrides matching).", show_default=False
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="local or aws (default: the config's).", show_default=False),
    ] = None,
    items: Annotated[
        list[str] | None,
        typer.Option(
            "--items",
            help="NAME=PATH: a list input's items from a .txt/.jsonl/.json/.csv file or an "
            "s3:// object; NAME=s3://BUCKET/PREFIX/ (or .../*.jpg) for one item per object. "
            "Repeatable; overrides the file.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Show progress until the end; exit 0, or 7 below the success ratio."
        ),
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Run a launch plan: one child per item of its mapped list.

    Checks the exec file against the launch plan before anything else, stages
    the inputs, records the execution and submits it. --dryRun prints the whole
    plan and changes nothing. With --wait, shows live progress and exits 0 when
    the execution met its success ratio, 7 when not; Ctrl-C exits 130.

    Examples:

    \b
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml --wait
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml --dryRun -o json
      batchmap create execution -p flytesnacks -d development --execFile exec.yaml \\
          --items numbers=s3://my-bucket/numbers.jsonl
    """
    from batchmap.cli import views as progress
    from batchmap.errors import InvalidInputError
    from batchmap.executions import model as executions

    state = app_state(ctx)
    out = state.output(output)
    if name and name_arg and name != name_arg:
        raise InvalidInputError(f"two names given: {name_arg!r} and --name {name!r}")
    chosen = backend or state.settings.backend
    if chosen not in ("local", "aws"):
        raise InvalidInputError(f"--backend must be local or aws; got {chosen!r}")
    state.show_warnings(out)
    request = executions.ExecutionRequest(
        project=project,
        domain=domain,
        exec_file=exec_file if exec_file.is_absolute() else state.env.cwd / exec_file,
        name=name or name_arg,
        iam_role_arn=iam_role,
        kube_service_account=service_account,
        target_project=target_project,
        target_domain=target_domain,
        version=version,
        queue=queue,
        backend=chosen,
        default_iam_role=state.settings.get("flyteadmin.assumableIamRole"),
        items=tuple(items or ()),
        cwd=state.env.cwd,
    )
    plan = executions.prepare(request, state.registry(), s3=lambda: state.clients.client("s3"))
    runner = state.backend(chosen)
    plan.details.update(runner.finalize(plan))
    for note in plan.details.pop("notes", []):
        out.info(note)
    for warning in plan.details.pop("warnings", []):
        out.warn(warning)
    if dry_run:
        out.data(plan.to_dict()) if out.format is not OutputFormat.table else out.text(
            _plan_text(plan)
        )
        out.info("dry run: nothing was staged, registered or submitted")
        return
    manifest = executions.create(plan, state.execution_store(), runner, foreground=wait)
    if out.format is not OutputFormat.table:
        out.data(manifest.to_dict())
    for line in progress.header_lines(
        manifest,
        progress.phase_for(runner, manifest),
        getattr(runner, "links", lambda m: [])(manifest),
    ):
        out.info(line)
    if not wait:
        out.hint(
            f"follow it: batchmap logs -p {manifest.project} -d {manifest.domain} "
            f"{manifest.name} --follow"
        )
        return
    try:
        phase = progress.wait(runner, manifest, out, store=state.execution_store())
    except KeyboardInterrupt:
        out.info(f"interrupted: {runner.on_interrupt(manifest)}")
        raise
    out.success(phase.describe())


def _plan_text(plan) -> str:  # type: ignore[no-untyped-def]
    from batchmap.cli.output import to_yaml

    return "# dry run: the plan of this execution (nothing is changed)\n" + to_yaml(plan.to_dict())
