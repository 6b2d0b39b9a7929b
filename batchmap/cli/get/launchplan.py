"""`batchmap get launchplan`."""

from pathlib import Path
from typing import Annotated, Any

import typer

from batchmap.cli.complete import complete_launchplan
from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, ForceOpt, OutputOpt, ProjectOpt, WideOpt
from batchmap.cli.tables import Column

COLUMNS = [
    Column("VERSION", "version", no_wrap=True),
    Column("NAME", "name", no_wrap=True),
    Column("WORKFLOW", "workflow"),
    Column("INPUTS", "inputs"),
    Column("MAPS OVER", "over"),
    Column("CREATED AT", "createdAt", no_wrap=True),
]


def launchplan(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: Annotated[
        str | None,
        typer.Argument(
            help="Launch plan name.", show_default=False, autocompletion=complete_launchplan
        ),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="This version.", show_default=False)
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The newest version (overrides --version).")
    ] = False,
    exec_file: Annotated[
        str | None,
        typer.Option(
            "--execFile",
            "--exec-file",
            help="Write an exec file for this launch plan ('-' for stdout).",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = False,
    wide: WideOpt = False,
    output: OutputOpt = None,
) -> None:
    """List launch plans, the versions of one, or write its exec file.

    Without NAME: every version of every launch plan of the project and domain,
    newest first. With NAME: its versions; with --version or --latest, one.
    With --execFile, the exec file (flytectl's format) to edit and pass to
    'create execution'; an existing file is kept unless --force is given.

    Examples:

    \b
      batchmap get launchplan -p flytesnacks -d development
      batchmap get launchplan -p flytesnacks -d development squares --latest -o yaml
      batchmap get launchplan -p flytesnacks -d development squares --execFile exec.yaml
    """
    from batchmap.errors import UsageError
    from batchmap.launchplans.registry import plan_summary

    state = app_state(ctx)
    out = state.output(output, wide=wide)
    registry = state.app.registry
    if name is None:
        if exec_file or version or latest:
            raise UsageError("--execFile, --version and --latest need a launch plan NAME")
        plans = registry.list(project, domain)
        for problem in registry.broken:
            out.warn(f"skipped: {problem.message}")
        if not plans:
            out.info(
                f"no launch plans in {project}/{domain} "
                f"(register one with 'batchmap register files FILE')"
            )
        out.data(
            [p.to_dict() for p in plans], columns=COLUMNS, rows=[plan_summary(p) for p in plans]
        )
        return
    if exec_file or version or latest:
        plan = registry.get(project, domain, name, None if latest else version)
        if exec_file:
            return _write_exec_file(out, state, plan, exec_file, force=force)
        out.data(plan.to_dict(), columns=COLUMNS, rows=[plan_summary(plan)])
        return
    plans = registry.versions(project, domain, name)
    for problem in registry.broken:
        out.warn(f"skipped: {problem.message}")
    out.data([p.to_dict() for p in plans], columns=COLUMNS, rows=[plan_summary(p) for p in plans])


def _write_exec_file(out: Any, state: Any, plan: Any, exec_file: str, *, force: bool) -> None:
    """Write (or print, for ``-``) the exec file of ``plan``, then say what to fill in."""
    from batchmap.executions import execfile

    text = execfile.render(plan)
    if exec_file == "-":
        out.text(text)
        return
    target = state.path(Path(exec_file))
    execfile.write(target, text, force=force)
    out.success(f"wrote {target} for {plan.name} {plan.version}")
    todo = [] if plan.iam_role_arn else ["iamRoleARN (for AWS Batch)"]
    if any(not s.has_default for s in plan.inputs.values()):
        todo.append("the inputs marked required")
    step = f"fill {' and '.join(todo)}, then run" if todo else "edit it, then run"
    out.hint(
        f"{step}: batchmap create execution -p {plan.project} -d {plan.domain} "
        f"--execFile {exec_file}"
    )
