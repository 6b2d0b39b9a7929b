"""What every command receives: the environment and the run's global options.

Following httpie, the process environment (streams, variables, cwd, home) is
one injectable object, so tests run commands in-process with their own HOME,
variables and captured streams. Settings, output and AWS clients are built
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
    from batchmap.aws.clients import ClientFactory
    from batchmap.backends.base import Backend
    from batchmap.config.settings import Settings
    from batchmap.files.store import BlobStore
    from batchmap.launchplans.registry import Registry


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
    config: str | None = None
    output: OutputFormat = OutputFormat.table
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    debug: bool = False


@dataclass
class AppState:
    env: Environment
    options: GlobalOptions = field(default_factory=GlobalOptions)

    @cached_property
    def settings(self) -> Settings:
        from batchmap.config.settings import Overrides, resolve

        return resolve(
            Overrides(
                config=self.options.config,
                region=self.options.region,
                profile=self.options.profile,
                endpoint_url=self.options.endpoint_url,
            ),
            self.env.environ,
            self.env.cwd,
            self.env.home,
        )

    def output(self, fmt: OutputFormat | None = None) -> Output:
        """The renderer; a command's own ``-o`` wins over the global one."""
        return Output(
            fmt or self.options.output, self.env.stdout, self.env.stderr, self.env.environ
        )

    @cached_property
    def clients(self) -> ClientFactory:
        from batchmap.aws.clients import ClientFactory

        s = self.settings
        out = self.output()
        last = [0.0]

        def throttled(operation: str) -> None:
            import time

            if time.monotonic() - last[0] >= 5:  # at most one notice every 5 s
                last[0] = time.monotonic()
                out.warn(f"throttled by AWS on {operation}, retrying")

        return ClientFactory(
            region=s.region, profile=s.profile, endpoint_url=s.endpoint_url, on_throttle=throttled
        )

    def store(self, location: str) -> BlobStore:
        """The blob store at a resolved location (S3 client only for s3:// locations)."""
        from batchmap.files.store import open_store

        client = self.clients.client("s3") if location.startswith("s3://") else None
        return open_store(location, client)

    def registry(self) -> Registry:
        from batchmap.launchplans.registry import Registry

        return Registry(self.store(self.settings.registry))

    def execution_store(self) -> BlobStore:
        return self.store(self.settings.storage)

    def backend(self, name: str | None = None) -> Backend:
        """The backend for ``name`` (default: the configured one)."""
        name = name or self.settings.backend
        if name == "local":
            from batchmap.backends.local.backend import LocalBackend

            return LocalBackend(self.execution_store())
        from batchmap.backends.aws.backend import AwsBatchBackend

        return AwsBatchBackend(self.clients, self.settings)

    def show_warnings(self, out: Output) -> None:
        out.problems(self.settings.warnings)


def app_state(ctx: Any) -> AppState:
    state = ctx.find_root().obj
    assert isinstance(state, AppState), "main() sets the AppState"
    return state
