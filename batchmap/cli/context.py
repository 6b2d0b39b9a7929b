"""What every command receives: the environment and the run's global options.

Following httpie, the process environment (streams, variables, cwd, home) is
one injectable object, so tests run commands in-process with their own HOME,
variables and captured streams. Config, output and AWS clients are built
lazily on first use: ``--help`` never loads a config or imports boto3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from batchmap.cli.output import Output, OutputFormat

if TYPE_CHECKING:
    from batchmap.api import Batchmap
    from batchmap.config.loader import Config
    from batchmap.executions.lifecycle import Executions


@dataclass
class Environment:
    stdout: TextIO
    stderr: TextIO
    environ: Mapping[str, str]
    cwd: Path
    home: Path
    stdin: IO[bytes] | None = None  # `batchmap run` reads items from it when it is a pipe

    @classmethod
    def from_os(cls) -> Environment:
        environ = dict(os.environ)
        home = Path(environ.get("HOME") or Path.home())
        stdin = getattr(sys.stdin, "buffer", None)
        return cls(sys.stdout, sys.stderr, environ, Path.cwd(), home, stdin)


@dataclass(frozen=True)
class GlobalOptions:
    config_path: str | None = None
    output: OutputFormat = OutputFormat.table
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    debug: bool = False


@dataclass
class AppState:
    """The run's environment and global options, and the library built from them."""

    env: Environment
    options: GlobalOptions = field(default_factory=GlobalOptions)

    @cached_property
    def app(self) -> Batchmap:
        from batchmap.api import Batchmap

        out = self.output()
        last = [0.0]

        def throttled(operation: str) -> None:
            import time

            if time.monotonic() - last[0] >= 5:  # at most one notice every 5 s
                last[0] = time.monotonic()
                out.warn(f"throttled by AWS on {operation}, retrying")

        return Batchmap.open(
            self.options.config_path,
            environ=self.env.environ,
            cwd=self.env.cwd,
            home=self.env.home,
            region=self.options.region,
            profile=self.options.profile,
            endpoint_url=self.options.endpoint_url,
            on_throttle=throttled,
        )

    @property
    def config(self) -> Config:
        return self.app.config

    @property
    def executions(self) -> Executions:
        return self.app.executions

    def output(self, fmt: OutputFormat | None = None, *, wide: bool = False) -> Output:
        """The renderer; a command's own ``-o`` wins over the global one."""
        return Output(
            fmt or self.options.output,
            self.env.stdout,
            self.env.stderr,
            self.env.environ,
            wide=wide,
        )

    def path(self, path: Path) -> Path:
        """A path given on the command line, relative to the run's working directory."""
        return path if path.is_absolute() else self.env.cwd / path

    @property
    def cli(self) -> str:
        """How to call batchmap again with this run's config (in commands it suggests)."""
        config = self.options.config_path
        return f"batchmap -c {config}" if config else "batchmap"

    def show_warnings(self, out: Output) -> None:
        out.problems(self.config.warnings)


def app_state(ctx: Any) -> AppState:
    state = ctx.find_root().obj
    assert isinstance(state, AppState), "main() sets the AppState"
    return state
