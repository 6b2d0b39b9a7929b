"""The root command, its global options, and ``main()``: errors → exit codes.

``main()`` is the one place where a ``BatchmapError`` becomes a message on
stderr and an exit status (DESIGN.md §5). A traceback is printed only with
``--debug`` or ``BATCHMAP_DEBUG=1``.
"""

import errno
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from batchmap import __version__
from batchmap.cli import config as config_cmd
from batchmap.cli import create as create_cmd
from batchmap.cli import delete as delete_cmd
from batchmap.cli import doctor as doctor_cmd
from batchmap.cli import get as get_cmd
from batchmap.cli import logs as logs_cmd
from batchmap.cli import register as register_cmd
from batchmap.cli import relaunch as relaunch_cmd
from batchmap.cli import run as run_cmd
from batchmap.cli import setup as setup_cmd
from batchmap.cli.context import AppState, Environment, GlobalOptions
from batchmap.cli.output import Output, OutputFormat
from batchmap.errors import BatchmapError, ExitCode, Interrupted

# The order a user takes the commands in: configure, set up AWS, register, run, watch, fix.
ORDER = (
    "config",
    "setup",
    "doctor",
    "register",
    "get",
    "create",
    "logs",
    "relaunch",
    "delete",
    "terminate",
)


class InOrder(TyperGroup):
    """Lists the commands in ORDER (typer lists single commands before groups)."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


app = typer.Typer(
    cls=InOrder,
    name="batchmap",
    help=(
        "Run map tasks (array jobs) on AWS Batch the way Flyte does, without a Flyte "
        "backend, or on this machine (the default local backend).\n\n"
        "A first run, in the order of the commands below:\n\n"
        "\b\n"
        "  batchmap register files squares.yaml\n"
        "  batchmap get launchplan -p flytesnacks -d development squares --execFile exec.yaml\n"
        "  batchmap create execution -p flytesnacks -d development --execFile exec.yaml --wait\n"
        "  batchmap logs -p flytesnacks -d development NAME\n\n"
        "For AWS Batch: 'batchmap config init --backend aws', 'batchmap setup', "
        "'batchmap doctor'. Every command has --help with examples; exit codes: 0 ok, "
        "2 usage, 3 invalid input, 4 not found, 5 AWS refused, 6 AWS unavailable, "
        "7 below the success ratio, 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.command("setup")(setup_cmd.setup)
app.command("doctor")(doctor_cmd.doctor)
app.add_typer(register_cmd.app, name="register")
app.add_typer(get_cmd.app, name="get")
app.add_typer(create_cmd.app, name="create")
app.command("run")(run_cmd.run)
app.command("logs")(logs_cmd.logs)
app.command("relaunch")(relaunch_cmd.relaunch)
app.add_typer(delete_cmd.app, name="delete")
app.add_typer(delete_cmd.app, name="terminate", help="The same as delete: abort executions.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"batchmap {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default: $BATCHMAP_CONFIG, ./batchmap.yaml, "
            "~/.batchmap/config.yaml).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="Output format.", case_sensitive=False)
    ] = OutputFormat.table,
    region: Annotated[
        str | None, typer.Option(help="AWS region (else config, then AWS_REGION).")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (else config, then AWS_PROFILE).")
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="AWS endpoint URL, e.g. a local moto server."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print a traceback on errors (or BATCHMAP_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Run map tasks (array jobs) on AWS Batch without a Flyte backend."""
    if not isinstance(ctx.obj, AppState):
        ctx.obj = AppState(Environment.from_os())
    ctx.obj.options = GlobalOptions(
        config_path=config,
        output=output,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        debug=debug,
    )


def _debug_requested(state: AppState) -> bool:
    """--debug (parsed once, by the root callback) or BATCHMAP_DEBUG."""
    flag = state.env.environ.get("BATCHMAP_DEBUG", "") not in ("", "0", "false")
    return state.options.debug or flag


def _on_sigterm_interrupt() -> Any:
    """SIGTERM (a CI runner cancelling a job, `kill`) ends batchmap like Ctrl-C: cleanly,
    exit 130, nothing half-written. Only from the main thread, where signals arrive."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _reader_left() -> int:
    """`batchmap ... | head`: the reader left, which is not an error (exit 0). What is
    still unwritten goes to /dev/null, so that exit's flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return int(ExitCode.OK)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    env = env or Environment.from_os()
    args = list(sys.argv[1:] if argv is None else argv)
    state = AppState(env)
    out = Output(OutputFormat.table, env.stdout, env.stderr, env.environ)
    previous = _on_sigterm_interrupt()
    try:
        result = app(args=args, prog_name="batchmap", standalone_mode=False, obj=state)
        if result == ExitCode.INTERRUPTED:  # typer turns Ctrl-C into a returned 130
            out.error("interrupted")
        return int(result) if isinstance(result, int) else ExitCode.OK
    except BatchmapError as exc:
        lines = exc.lines()
        # Ctrl-C says what goes on, which is no error.
        say = out.info if isinstance(exc, Interrupted) else out.error
        for line in lines:
            say(line)
        for warning in getattr(exc, "warnings", []):
            out.warn(str(warning))
        if exc.hint:
            out.hint(exc.hint)
        if _debug_requested(state):
            env.stderr.write(traceback.format_exc())
        return int(exc.exit_code)
    except typer.Exit as exc:
        if exc.exit_code == ExitCode.INTERRUPTED:  # typer's own Ctrl-C handling
            out.error("interrupted")
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt) as exc:
        cause = exc.__cause__
        if isinstance(cause, EOFError):  # typer turns any EOFError into Abort: not a Ctrl-C
            out.error(f"unexpected error: EOFError: {cause or 'input ended early'}")
            out.hint("this is a bug in batchmap: run again with --debug and report the traceback")
            return int(ExitCode.ERROR)
        out.error("interrupted")
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:
        # Usage errors (typer's vendored Click): typer formats them itself.
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=env.stderr)
        else:
            out.error(str(exc))
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except BrokenPipeError:
        return _reader_left()
    except SystemExit as exc:
        # typer ends a command whose output met a closed pipe with exit(1) itself
        if isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
            return _reader_left()
        raise
    except Exception as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            out.error("interrupted")
            return int(ExitCode.INTERRUPTED)
        if isinstance(exc, OSError):  # a full disk where no writer translated it
            from batchmap.files.atomic import storage_error

            full = storage_error(exc, exc.filename or "a file")
            if full is not None:
                out.error(full.message)
                return int(full.exit_code)
        if type(exc).__module__.split(".")[0] in ("botocore", "boto3", "s3transfer"):
            # An AWS error that escaped a call site: still one line and a documented code.
            from batchmap.aws.clients import translate

            error = translate(exc, "AWS")
            out.error(error.message)
            if error.hint:
                out.hint(error.hint)
            return int(error.exit_code)
        out.error(f"unexpected error: {type(exc).__name__}: {exc}")
        if _debug_requested(state):
            env.stderr.write(traceback.format_exc())
        else:
            out.hint("this is a bug in batchmap: run again with --debug and report the traceback")
        return int(ExitCode.ERROR)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
