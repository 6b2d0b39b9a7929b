"""The interface every task kind implements, and what it hands to backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from batchmap.runtime.env import INDEX_MARK

if TYPE_CHECKING:
    from batchmap.backends.base import Child
    from batchmap.executions.manifest import Manifest
    from batchmap.files.store import BlobStore
    from batchmap.launchplans.model import LaunchPlan


# In a command that is not templated, the one placeholder a backend fills per child: its
# index (an ArrayNode child of flytekit writes to its own output prefix).


@dataclass(frozen=True)
class ChildSpec:
    """What every child of an execution runs: the contract between a task kind and a
    backend. ``templated`` commands hold placeholders that batchmap's child runtime
    fills from the staged inputs (``{{ item }}``…); the others run as they are, but for
    ``INDEX_MARK``, which the backend replaces by the child's index (``command_for``)."""

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    templated: bool = True
    attempt_var: str | None = None  # a variable the task reads its 0-based attempt from

    @property
    def per_child(self) -> bool:
        """Whether the command differs by child (it holds ``INDEX_MARK``)."""
        return any(INDEX_MARK in arg for arg in self.command)

    def command_for(self, index: int) -> tuple[str, ...]:
        return tuple(arg.replace(INDEX_MARK, str(index)) for arg in self.command)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": list(self.command),
            "env": dict(self.env),
            "templated": self.templated,
        }
        if self.attempt_var:
            out["attemptVar"] = self.attempt_var
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChildSpec:
        return cls(
            tuple(str(a) for a in data["command"]),
            {str(k): str(v) for k, v in (data.get("env") or {}).items()},
            bool(data.get("templated", True)),
            data.get("attemptVar"),
        )


@dataclass(frozen=True)
class Target:
    """The execution a task is rendered for."""

    name: str
    project: str
    domain: str
    base: str  # the execution's folder or URI in the store (file://… or s3://…)


@dataclass(frozen=True)
class Staged:
    inputs_uri: str
    size: int
    bytes_written: int


class TaskKind(Protocol):
    name: str

    def child(
        self, launch_plan: LaunchPlan, values: Mapping[str, Any], target: Target
    ) -> ChildSpec:
        """The command and environment of every child (no side effects)."""
        ...

    def notes(self, launch_plan: LaunchPlan, backend: str | None) -> list[str]:
        """What the user should know before running this task on ``backend`` (None: at
        registration, for either backend)."""
        ...

    def check_backend(self, launch_plan: LaunchPlan, backend: str) -> None:
        """Raise InvalidInputError, before any side effect, when ``backend`` cannot run it."""
        ...

    def stage(
        self, store: BlobStore, prefix: str, launch_plan: LaunchPlan, values: Mapping[str, Any]
    ) -> Staged:
        """Write the children's inputs under ``prefix``."""
        ...

    def relaunch_problem(self) -> str | None:
        """Why this kind cannot be relaunched with its original indexes (None: it can)."""
        ...

    def stage_relaunch(
        self, store: BlobStore, prefix: str, root: Manifest, indexes: Sequence[int]
    ) -> Staged:
        """Inputs of a relaunch: the root's children ``indexes``, keeping their indexes."""
        ...

    def output(self, store: BlobStore, manifest: Manifest, index: int) -> tuple[Any, bool]:
        """(value, found) of child ``index``'s output."""
        ...

    def explain(self, store: BlobStore, manifest: Manifest, children: list[Child]) -> list[Child]:
        """Children with the task's own failure reasons (e.g. flytekit's error.pb)."""
        ...
