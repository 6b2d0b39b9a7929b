"""The execution manifest, ``PROJECT/DOMAIN/EXECUTION/execution.json``: what was submitted.

A typed record (``batchmap/schemas/execution.schema.json``), written by the
lifecycle only. Derived values (the minimum of successes, the launch plan's
reference, the command) are computed, never stored. Each backend keeps its own
record under ``run`` (AWS: job definition and array jobs; local: the folder and
the supervisor) and reads it back itself. ``from_dict`` reads every format
version before this one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchmap import times
from batchmap.errors import InvalidInputError, NotFoundError
from batchmap.executions.phase import ABORT_REASON, INTERRUPTED_REASON
from batchmap.files.safe import strict_json
from batchmap.files.store import AlreadyExists, BlobStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.tasks.base import ChildSpec

__all__ = ["ABORT_REASON", "FINISHED", "INTERRUPTED_REASON", "SUBMITTED", "SUBMITTING", "Manifest"]

API_VERSION = "batchmap/v1"
FORMAT_VERSION = 2
SUBMITTING, SUBMITTED, FINISHED = "SUBMITTING", "SUBMITTED", "FINISHED"
MAX_SIZE = 100_000_000  # what --index accepts (cli/selection.py): no map is larger
# Keys of format 1 that belonged to the backend's record (they lived at the top level).
_V1_RUN_KEYS = (
    "region",
    "identityChecks",
    "jobDefinition",
    "jobDefinitionArn",
    "jobs",
    "logGroup",
    "logStreamPrefix",
    "jobDefinitionDeregistered",
    "local",
)


@dataclass(frozen=True)
class QueueChoice:
    """The AWS Batch job queue and the rule that chose it."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Relaunch:
    """What a relaunch re-runs: position ``p`` runs the root's child ``indexes[p]``."""

    of: str
    root: str
    indexes: tuple[int, ...]


@dataclass(frozen=True)
class Termination:
    at: dt.datetime
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": times.iso(self.at), "reason": self.reason}


class Derived:
    """What an execution derives from its fields alike, planned or recorded (a base of
    ``ExecutionPlan`` and ``Manifest``, which declare the fields)."""

    project: str
    domain: str
    name: str
    launch_plan: LaunchPlan
    size: int

    @property
    def prefix(self) -> str:
        return f"{self.project}/{self.domain}/{self.name}"

    @property
    def min_successes(self) -> int:
        return self.launch_plan.map.required(self.size)


@dataclass
class Manifest(Derived):
    name: str
    project: str
    domain: str
    launch_plan: LaunchPlan
    backend: str
    size: int
    child: ChildSpec
    inputs_uri: str
    output_prefix: str
    created_at: dt.datetime
    state: str = SUBMITTING
    envs: Mapping[str, str] = field(default_factory=dict)
    iam_role_arn: str | None = None
    kube_service_account: str | None = None
    queue: QueueChoice | None = None
    relaunch: Relaunch | None = None
    submitted_at: dt.datetime | None = None
    terminated: Termination | None = None
    finished_at: dt.datetime | None = None  # when its last child ended, once seen
    run: dict[str, Any] = field(default_factory=dict)  # the backend's own record
    # A root's relaunches, oldest first: each records itself as ROOT/relaunches/NAME.json
    # (relaunches_of); format 1 roots listed them here, and that list is still read.
    relaunches: tuple[str, ...] = ()
    item_sources: Mapping[str, Any] = field(default_factory=dict)  # lists read from files/S3

    # -- derived -------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return self.relaunch.root if self.relaunch else self.name

    @property
    def index_map(self) -> tuple[int, ...] | None:
        """A relaunch's positions → original indexes (None for a first run)."""
        return self.relaunch.indexes if self.relaunch else None

    @property
    def indexes(self) -> range | tuple[int, ...]:
        """The original indexes this execution runs."""
        return self.relaunch.indexes if self.relaunch else range(self.size)

    # -- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The stored form (execution.schema.json)."""
        out: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Execution",
            "formatVersion": FORMAT_VERSION,
            "name": self.name,
            "project": self.project,
            "domain": self.domain,
            "backend": self.backend,
            "state": self.state,
            "size": self.size,
            "createdAt": times.iso(self.created_at),
            "submittedAt": times.iso(self.submitted_at),
            "queue": self.queue.to_dict() if self.queue else None,
            "iamRoleARN": self.iam_role_arn,
            "kubeServiceAcct": self.kube_service_account,
            "envs": dict(self.envs),
            "inputsUri": self.inputs_uri,
            "outputPrefix": self.output_prefix,
            "child": self.child.to_dict(),
            "launchPlanSpec": self.launch_plan.spec_dict(),
            "run": self.run,
        }
        if self.relaunch:
            out["relaunchOf"] = self.relaunch.of
            out["root"] = self.relaunch.root
            out["indexMap"] = list(self.relaunch.indexes)
        if self.terminated:
            out["terminated"] = self.terminated.to_dict()
        if self.finished_at:
            out["finishedAt"] = times.iso(self.finished_at)
        if self.relaunches:
            out["relaunches"] = list(self.relaunches)
        if self.item_sources:
            out["itemSources"] = dict(self.item_sources)
        return out

    def view(self) -> dict[str, Any]:
        """What ``-o json|yaml`` shows: the stored form, the backend's record at the top
        level, and the derived values people read (docs/executions.md)."""
        data = self.to_dict()
        run = data.pop("run")
        lp = self.launch_plan
        return {
            **data,
            "launchPlan": lp.ref(),
            "minSuccessRatio": lp.map.min_success_ratio,
            "minSuccesses": self.min_successes,
            "command": list(lp.task.command),
            **run,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Read any format version; KeyError/TypeError/ValueError on a broken one."""
        version = int(data.get("formatVersion") or 1)
        if version > FORMAT_VERSION:
            raise ValueError(f"format version {version} is newer than this batchmap's")
        spec = data["launchPlanSpec"]
        launch_plan = LaunchPlan.from_spec(spec)
        size = data["size"]
        if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
            raise ValueError(f"size {size!r} is not a number of children (1-{MAX_SIZE:,})")
        if not 0 <= launch_plan.map.min_success_ratio <= 1:
            raise ValueError(f"minSuccessRatio {launch_plan.map.min_success_ratio} is not 0-1")
        if version == 1:
            run = {k: data[k] for k in _V1_RUN_KEYS if k in data}
            child = _v1_child(data, launch_plan)
        else:
            run = dict(data.get("run") or {})
            child = ChildSpec.from_dict(data["child"])
        queue = data.get("queue")
        relaunch = (
            Relaunch(str(data["relaunchOf"]), str(data["root"]), tuple(map(int, data["indexMap"])))
            if data.get("relaunchOf")
            else None
        )
        terminated = data.get("terminated")
        return cls(
            name=str(data["name"]),
            project=str(data["project"]),
            domain=str(data["domain"]),
            launch_plan=launch_plan,
            backend=str(data["backend"]),
            size=int(data["size"]),
            child=child,
            inputs_uri=str(data["inputsUri"]),
            output_prefix=str(data["outputPrefix"]),
            created_at=times.parse_iso(data.get("createdAt")) or times.now(),
            state=str(data["state"]),
            envs={str(k): str(v) for k, v in (data.get("envs") or {}).items()},
            iam_role_arn=data.get("iamRoleARN"),
            kube_service_account=data.get("kubeServiceAcct"),
            queue=QueueChoice(str(queue["name"]), str(queue.get("reason") or ""))
            if queue
            else None,
            relaunch=relaunch,
            submitted_at=times.parse_iso(data.get("submittedAt")),
            terminated=Termination(
                times.parse_iso(terminated["at"]) or times.now(), str(terminated["reason"])
            )
            if terminated
            else None,
            finished_at=times.parse_iso(data.get("finishedAt")),
            run=run,
            relaunches=tuple(data.get("relaunches") or ()),
            item_sources=dict(data.get("itemSources") or {}),
        )

    def replace(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, **changes)


def _v1_child(data: Mapping[str, Any], launch_plan: LaunchPlan) -> ChildSpec:
    flyte = data.get("flyteRun")
    if flyte:
        return ChildSpec(
            tuple(flyte["command"]),
            dict(flyte.get("env") or {}),
            templated=False,
            attempt_var="FLYTE_ATTEMPT_NUMBER",
        )
    return ChildSpec(launch_plan.task.command, dict(launch_plan.task.env), templated=True)


# -- the store ---------------------------------------------------------------------------
def key(prefix: str) -> str:
    return f"{prefix}/execution.json"


def encode(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()


def decode(data: bytes, where: str) -> Manifest:
    try:
        return Manifest.from_dict(strict_json(data))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(
            f"{where}: not a readable execution manifest ({type(exc).__name__}: {exc})",
            hint="it was changed by hand or written by a newer batchmap; "
            "delete the folder to forget the execution",
        ) from None


def save(store: BlobStore, manifest: Manifest) -> None:
    store.put(key(manifest.prefix), encode(manifest))


def load(store: BlobStore, project: str, domain: str, name: str) -> Manifest:
    where = key(f"{project}/{domain}/{name}")
    data = store.get(where)
    if data is None:
        raise NotFoundError(
            f"execution {name!r} not found in {project}/{domain}",
            hint=f"list executions with 'batchmap get execution -p {project} -d {domain}'",
        )
    return decode(data, store.uri(where))


def list_all(
    store: BlobStore, project: str, domain: str
) -> tuple[list[Manifest], list[InvalidInputError]]:
    """Every execution of a project and domain, newest first (a root with the relaunches
    recorded under it, found by the same listing), and the manifests that could not be
    read (a broken one never hides the others)."""
    manifests, broken = [], []
    recorded: dict[str, list[str]] = {}
    for name in store.list(f"{project}/{domain}"):
        parts = name.split("/")
        if len(parts) == 5 and parts[3] == RELAUNCHES and name.endswith(".json"):
            recorded.setdefault(parts[2], []).append(parts[4][: -len(".json")])
        if len(parts) == 4 and name.endswith("/execution.json"):
            data = store.get(name)
            if data is None:
                continue
            try:
                manifests.append(decode(data, store.uri(name)))
            except InvalidInputError as exc:
                broken.append(exc)
    manifests = [
        m.replace(
            relaunches=(*m.relaunches, *(n for n in recorded[m.name] if n not in m.relaunches))
        )
        if m.name in recorded and not m.relaunch
        else m
        for m in manifests
    ]
    manifests.sort(key=lambda m: m.created_at, reverse=True)
    return manifests, broken


# -- relaunches, each recorded under its root ----------------------------------------------
RELAUNCHES = "relaunches"


def record_relaunch(store: BlobStore, manifest: Manifest) -> None:
    """Record a relaunch under its root with an exclusive create of its own object, so
    relaunches made at the same time never overwrite each other (no read-modify-write of
    the root's manifest). Idempotent: a re-run finds its record there."""
    if manifest.relaunch is None:
        return
    data = {
        "name": manifest.name,
        "relaunchOf": manifest.relaunch.of,
        "createdAt": times.iso(manifest.created_at),
    }
    key = f"{manifest.project}/{manifest.domain}/{manifest.relaunch.root}/{RELAUNCHES}"
    with contextlib.suppress(AlreadyExists):
        store.put(f"{key}/{manifest.name}.json", (json.dumps(data) + "\n").encode(), exclusive=True)


def relaunches_of(store: BlobStore, root: Manifest) -> tuple[str, ...]:
    """The relaunches of a root execution, oldest first (records and the format 1 list)."""
    return with_relaunches(root, relaunch_records(store, root.prefix))


def relaunch_records(store: BlobStore, prefix: str) -> list[tuple[str, str]]:
    """(createdAt, name) of each relaunch recorded under the execution at ``prefix`` (read
    without its manifest, so that both can be read at once)."""
    records = []
    for name in store.list(f"{prefix}/{RELAUNCHES}"):
        data = store.get(name) if name.endswith(".json") else None
        try:
            entry = json.loads(data) if data is not None else None
            records.append((str(entry["createdAt"]), str(entry["name"])))
        except (ValueError, KeyError, TypeError):
            continue  # not a record: ignore it rather than fail every reader
    return records


def with_relaunches(root: Manifest, records: list[tuple[str, str]]) -> tuple[str, ...]:
    """A root's relaunches, oldest first: the format 1 list, then the records."""
    names = list(root.relaunches)
    for _, name in sorted(records):
        if name not in names:
            names.append(name)
    return tuple(names)
