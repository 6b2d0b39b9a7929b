"""`batchmap config init | validate | show`."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import ForceOpt, OutputOpt
from batchmap.cli.output import OutputFormat
from batchmap.cli.tables import Column


class Backend(str, Enum):
    local = "local"
    aws = "aws"


app = typer.Typer(
    help="Write, check and show batchmap's configuration.",
    no_args_is_help=True,
)


@app.command("init")
def init(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="Where to write (default: ~/.batchmap/config.yaml).", show_default=False
        ),
    ] = None,
    backend: Annotated[Backend, typer.Option(help="Where executions run.")] = Backend.local,
    storage: Annotated[
        str | None, typer.Option(help="s3://BUCKET/PREFIX or a local folder.", show_default=False)
    ] = None,
    registry: Annotated[
        str | None, typer.Option(help="s3://BUCKET/PREFIX or a local folder.", show_default=False)
    ] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.", show_default=False)] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            help="An AWS Batch job queue to route every execution to.", show_default=False
        ),
    ] = None,
    force: ForceOpt = False,
    output: OutputOpt = None,
) -> None:
    """Write a commented starter config file.

    Never prompts: an existing file is kept unless --force is given.

    Examples:

    \b
      batchmap config init
      batchmap config init --backend aws --storage s3://my-bucket/batchmap --queue tutorial
    """
    from batchmap.config.loader import default_config_path
    from batchmap.config.template import render_starter_config, write_starter_config

    state = app_state(ctx)
    out = state.output(output)
    text = render_starter_config(
        backend=backend.value, storage=storage, registry=registry, region=region, queue=queue
    )
    target = path or default_config_path(state.env.home)
    if not target.is_absolute():
        target = state.env.cwd / target
    write_starter_config(target, text, force=force)
    out.success(f"wrote {target}")
    if out.format is not OutputFormat.table:
        out.data({"path": str(target), "backend": backend.value})


@app.command("validate")
def validate(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Config file to check (default: the one batchmap would use).", show_default=False
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: OutputOpt = None,
) -> None:
    """Check a config file: schema, Flyte blocks and cross-field rules.

    Reports every problem at once with its field path and line; exits 3 when
    the file is invalid (or has warnings, with --strict).

    Examples:

    \b
      batchmap config validate
      batchmap config validate flyte-values.yaml --strict -o json
    """
    from batchmap.config.checks import check_config
    from batchmap.config.loader import find_config_file
    from batchmap.errors import InvalidInputError
    from batchmap.files.yamldoc import load_file

    state = app_state(ctx)
    out = state.output(output)
    env = state.env
    if file is None:
        found, _ = find_config_file(state.options.config_path, env.environ, env.cwd, env.home)
        if found is None:
            out.info(
                "no config file found: batchmap uses its built-in defaults "
                "(see 'batchmap config show')"
            )
            if out.format is not OutputFormat.table:
                out.data({"file": None, "valid": True, "problems": []})
            return
        file = found
    elif not file.is_absolute():
        file = env.cwd / file
    doc = load_file(file)
    problems = check_config(doc, advice=True)
    errors = [p for p in problems if not p.warning or strict]
    if out.format is not OutputFormat.table:
        out.data(
            {
                "file": str(file),
                "valid": not errors,
                "problems": [p.to_dict() for p in problems],
            }
        )
    if errors:
        raise InvalidInputError.from_problems(
            [p if not strict else _as_error(p) for p in problems],
            f"{file}: invalid configuration",
        )
    out.problems(problems)
    warnings = len(problems)
    suffix = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
    out.success(f"{file} is valid{suffix}")


def _as_error(problem):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(problem, warning=False)


@app.command("show")
def show(ctx: typer.Context, output: OutputOpt = None) -> None:
    """Show the resolved config and where each value came from.

    Sources: flag, env (BATCHMAP_* or boto3's AWS_* variables), file (with
    path:line), default, unset.

    Examples:

    \b
      batchmap config show
      batchmap --region eu-west-1 config show -o json
    """
    state = app_state(ctx)
    out = state.output(output)
    config = state.config
    state.show_warnings(out)
    if out.format is not OutputFormat.table:
        out.data(config.to_dict())
        return
    rows = [{"key": key, **value.to_dict()} for key, value in config.values.items()]
    queues = config.queues.get("executionQueues") or []
    rows.append(
        {
            "key": "queues.executionQueues",
            "value": ", ".join(q["dynamic"] for q in queues if q.get("dynamic")) or None,
            "source": "file" if queues else "unset",
            "detail": str(config.config_file) if queues else None,
        }
    )
    title = f"config file: {config.config_file or 'none (built-in defaults)'}"
    out.data(
        config.to_dict(),
        columns=[
            Column("KEY", "key", no_wrap=True),
            Column("VALUE", "value"),
            Column("SOURCE", "source"),
            Column("DETAIL", "detail"),
        ],
        rows=rows,
        title=title,
    )
