"""batchmap as a library: what the commands do, for Python programs (docs/api.md).

    from batchmap.api import Batchmap, ExecutionRequest

    bm = Batchmap.open()                       # the same config the CLI would find
    bm.register(["examples/squares.yaml"])
    plan = bm.executions.plan(ExecutionRequest("flytesnacks", "development", Path("exec.yaml")))
    manifest = bm.executions.submit(plan, foreground=True)
    phase = bm.executions.wait(manifest)

Nothing here prints or exits: results are returned, problems are raised as
``batchmap.errors.BatchmapError`` (each with its exit code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchmap.config.loader import Config, Overrides, resolve

if TYPE_CHECKING:
    from batchmap.aws.clients import ClientFactory
    from batchmap.backends.base import Backend
    from batchmap.executions.lifecycle import Executions
    from batchmap.executions.plan import ExecutionPlan, ExecutionRequest
    from batchmap.files.store import BlobStore
    from batchmap.launchplans.registry import Registration, Registry

__all__ = ["Batchmap", "ExecutionPlan", "ExecutionRequest", "Registered"]


def __getattr__(name: str) -> Any:
    """``ExecutionPlan`` and ``ExecutionRequest``, imported when first asked for: a command
    that only reads never loads planning's modules."""
    if name in ("ExecutionPlan", "ExecutionRequest"):
        from batchmap.executions import plan

        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Registered:
    """What ``register`` did: each launch plan's registration, and the Flyte launch plans
    found in the files that batchmap cannot run (with why)."""

    registrations: list[Registration]
    skipped: list[tuple[str, str]]
    notes: dict[tuple[str, str, str, str], list[str]]  # per launch plan: what is not applied


class Batchmap:
    """One configured batchmap: its stores, registry, backends and executions."""

    def __init__(self, config: Config, *, on_throttle: Callable[[str], None] | None = None) -> None:
        self.config = config
        self._on_throttle = on_throttle

    @classmethod
    def open(
        cls,
        config_path: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        home: Path | None = None,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        on_throttle: Callable[[str], None] | None = None,
    ) -> Batchmap:
        """Find and load the config as the CLI does (flag > BATCHMAP_* > file > default)."""
        import os

        env = dict(os.environ if environ is None else environ)
        config = resolve(
            Overrides(
                config=config_path, region=region, profile=profile, endpoint_url=endpoint_url
            ),
            env,
            cwd or Path.cwd(),
            home or Path(env.get("HOME") or Path.home()),
        )
        return cls(config, on_throttle=on_throttle)

    @cached_property
    def clients(self) -> ClientFactory:
        """boto3 clients, built on first use (one session, botocore's retries)."""
        from batchmap.aws.clients import ClientFactory

        c = self.config
        return ClientFactory(
            region=c.region,
            profile=c.profile,
            endpoint_url=c.endpoint_url,
            on_throttle=self._on_throttle,
            models=c.cache / "models" if c.cache else None,
        )

    def store(self, location: str) -> BlobStore:
        """The blob store at a location (an S3 client only for s3:// locations)."""
        from batchmap.files.store import open_store

        client = self.clients.client("s3") if location.startswith("s3://") else None
        return open_store(location, client)

    @cached_property
    def registry(self) -> Registry:
        from batchmap.launchplans.registry import Registry

        return Registry(self.store(self.config.registry))

    def backend(self, name: str | None = None) -> Backend:
        """The backend ``name`` (default: the configured one)."""
        return self.executions.backend(name or self.config.backend)

    def _make_backend(self, name: str) -> Backend:
        if name == "local":
            from batchmap.backends.local.backend import LocalBackend

            return LocalBackend(self.store(self.config.storage))
        from batchmap.backends.aws.backend import AwsBatchBackend

        return AwsBatchBackend(self.clients, self.config)

    @cached_property
    def executions(self) -> Executions:
        from batchmap.executions.lifecycle import Executions

        return Executions(
            self.store(self.config.storage),
            self.registry,
            self._make_backend,
            default_backend=self.config.backend,
            default_role=self.config.get("flyteadmin.assumableIamRole"),
            s3=lambda: self.clients.client("s3"),
            checks=self.config.cache / "checks" if self.config.cache else None,
        )

    def register(
        self,
        paths: Sequence[Path | str],
        *,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
    ) -> Registered:
        """Check launch plan files (YAML or ``pyflyte package`` output), then register every
        launch plan in them: all or nothing."""
        from batchmap.errors import InvalidInputError, Problem
        from batchmap.launchplans.parse import Overrides as PlanOverrides
        from batchmap.launchplans.parse import parse_all

        plans, skipped = parse_all(
            [Path(p) for p in paths],
            PlanOverrides(project, domain, version),
            self.config.flyte_secrets,
        )
        if not plans:
            raise InvalidInputError(
                "no launch plan batchmap can run in these files",
                hint="batchmap runs workflows whose only node is a map task (flytekit's map_task "
                "or legacy_map_task.map_task)",
                problems=[
                    Problem(f"Flyte launch plan {name} not registered: {why}", warning=True)
                    for name, why in skipped
                ],
            )
        from batchmap.tasks import kind_of

        notes = {plan.key: kind_of(plan).notes(plan, None) for plan in plans}
        return Registered(self.registry.register(plans), skipped, notes)
