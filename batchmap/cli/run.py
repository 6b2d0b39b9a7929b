"""`batchmap run`: one command over every item, with no launch plan file."""

from typing import TYPE_CHECKING, Annotated

import typer

from batchmap.cli.context import AppState, app_state
from batchmap.cli.options import DomainOpt, DryRunOpt, NewNameOpt, OutputOpt, ProjectOpt, WaitOpt
from batchmap.cli.output import Output, OutputFormat, to_yaml

if TYPE_CHECKING:
    from batchmap.executions.adhoc import RunPlan
    from batchmap.executions.manifest import Manifest


def run(
    ctx: typer.Context,
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="CMD ARG...",
            help="After --: the command each child runs; {{ item }} is its item (appended when "
            "absent).",
            show_default=False,
        ),
    ],
    image: Annotated[
        str,
        typer.Option("--image", help="Container image of the children.", show_default=False),
    ],
    items: Annotated[
        str | None,
        typer.Option(
            "--items",
            help="Items file (.txt one per line, .jsonl, .json, .csv; .gz too) or s3:// object. "
            "Default: stdin when it is not a terminal.",
            show_default=False,
        ),
    ] = None,
    items_prefix: Annotated[
        str | None,
        typer.Option(
            "--items-prefix",
            help="s3://BUCKET/PREFIX/: one item per object, its s3:// URI, in key order.",
            show_default=False,
        ),
    ] = None,
    suffix: Annotated[
        str | None,
        typer.Option(
            "--suffix", help="With --items-prefix: only keys ending so.", show_default=False
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="txt, jsonl, json or csv (default: the extension; stdin: txt).",
            show_default=False,
        ),
    ] = None,
    item_type: Annotated[
        str | None,
        typer.Option(
            "--item-type",
            help="int, float, str, bool, dict or list[T] (default: the first item's type; "
            "str for text and prefixes).",
            show_default=False,
        ),
    ] = None,
    vcpu: Annotated[
        float | None, typer.Option("--vcpu", help="vCPUs per child (default 1).")
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option("--memory", help="Memory per child: MiB, or 512Mi / 4Gi (default 2048)."),
    ] = None,
    gpu: Annotated[int | None, typer.Option("--gpu", help="GPUs per child (default 0).")] = None,
    retries: Annotated[
        int | None, typer.Option("--retries", help="Retries per child, 0..9 (default 0).")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Per attempt: seconds or 90s / 30m / 2h.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="At most this many children at once.")
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
    iam_role: Annotated[
        str | None,
        typer.Option(
            "--iamRoleARN",
            "--iam-role-arn",
            help="IAM role the children run as (AWS Batch).",
            show_default=False,
        ),
    ] = None,
    name: NewNameOpt = None,
    project: ProjectOpt = "default",
    domain: DomainOpt = "development",
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    output: OutputOpt = None,
) -> None:
    """Run a command over every item, with no launch plan or exec file.

    Registers an ad-hoc launch plan named by the task's content (run-<hash>; the
    same command again reuses it) and creates an execution of it, one child per
    item, on the config's backend (local unless configured otherwise). Prints the
    execution's name; get execution, logs, relaunch and delete work on it as on
    any execution. Put the command after '--'; quote '{{ item }}' (an unquoted
    {{ item }} works too). Without --items or --items-prefix, items are read from
    stdin, one per line, when stdin is not a terminal.

    Examples:

    \b
      batchmap run --image python:3.12 --items numbers.txt -- python -c 'print({{ item }} ** 2)'
      seq 1 100 | batchmap run --image busybox --wait -- echo {{ item }}
      batchmap run --image my/resizer:1 --items-prefix s3://photos/in/ --suffix .jpg \\
          --backend aws --vcpu 2 --memory 4Gi --retries 2 -- resize '{{ item }}'
    """
    from batchmap.cli import views
    from batchmap.executions import adhoc
    from batchmap.executions import items as sources

    state = app_state(ctx)
    out = state.output(output)
    state.show_warnings(out)
    request = adhoc.RunRequest(
        project=project,
        domain=domain,
        image=image,
        command=adhoc.command_template(command),
        items=sources.run_spec(items, items_prefix, suffix, fmt, state.env.cwd, state.env.stdin),
        item_type=item_type,
        vcpu=vcpu,
        memory=memory,
        gpu=gpu,
        retries=retries,
        timeout=timeout,
        concurrency=concurrency,
        queue=queue,
        backend=backend,
        name=name,
        iam_role_arn=iam_role,
    )
    run_plan = adhoc.prepare(request, state.executions, stdin=state.env.stdin)
    views.notes(out, run_plan.execution)
    if dry_run:
        return _dry_run(out, run_plan)
    manifest = adhoc.submit(run_plan, state.executions, foreground=wait)
    _submitted(out, state, run_plan, manifest, wait=wait)


def _dry_run(out: Output, run_plan: "RunPlan") -> None:
    if out.format is OutputFormat.table:
        heading = "# dry run: the plan of this run (nothing is changed)\n"
        out.text(heading + to_yaml(run_plan.to_dict()))
    else:
        out.data(run_plan.to_dict())
    out.info("dry run: nothing was registered, staged or submitted")


def _submitted(
    out: Output, state: AppState, run_plan: "RunPlan", manifest: "Manifest", *, wait: bool
) -> None:
    """The execution's name on stdout (the manifest with -o json|yaml), the rest on stderr."""
    from batchmap.cli import views

    if out.format is OutputFormat.table:
        out.text(manifest.name)
    lp = run_plan.launch_plan
    reused = "reused" if run_plan.reused else "registered"
    out.info(f"launch plan {lp.name} {lp.version} ({reused}); {manifest.size:,} children")
    views.submitted(out, state.executions, manifest, waiting=wait)
    where = f"-p {manifest.project} -d {manifest.domain} {manifest.name}"
    if not wait:
        out.hint(f"status: batchmap get execution {where}")
        return
    views.wait(out, state.executions, manifest)
    out.hint(f"logs: batchmap logs {where}")
