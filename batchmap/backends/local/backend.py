"""The local backend: the same map, run as processes on this machine.

The container image is not used: children run ``batchmap-task`` with this
machine's Python, with the same environment variables, index arithmetic,
templating, retries, timeouts and success ratio as on AWS Batch. Without
``--wait`` a detached supervisor runs the map and the command returns at once;
with ``--wait`` the supervisor runs in a thread of the command, and Ctrl-C
stops the children. Status and logs are files in the store, readable from any
terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchmap.backends.base import (
    Attempt,
    BackendPlan,
    Child,
    ChildQuery,
    LogCursor,
    LogEvent,
    LogQuery,
    Snapshot,
    Stopped,
    order_children,
    to_original,
)
from batchmap.backends.local.supervisor import (
    STATUS_FILE,
    STOP_FILE,
    Supervisor,
    child_environment,
)
from batchmap.errors import InvalidInputError
from batchmap.executions.manifest import Manifest
from batchmap.executions.phase import empty_counts
from batchmap.executions.plan import ExecutionPlan
from batchmap.files.store import BlobStore, LocalStore
from batchmap.runtime.child import LABEL_LINE
from batchmap.times import parse_iso as _time

LOST = "Lost: the local supervisor stopped before this child finished"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    name = "local"

    def __init__(self, store: BlobStore) -> None:
        if not isinstance(store, LocalStore):
            raise InvalidInputError(
                "the local backend needs a local storage folder",
                hint="set storage to a folder, or use --backend aws",
            )
        self.store = store
        self._threads: dict[str, tuple[threading.Thread, threading.Event]] = {}

    def directory(self, prefix: str) -> Path:
        return self.store.path(prefix)

    # -- submission ---------------------------------------------------------------------
    def submit(
        self, plan: ExecutionPlan, manifest: Manifest, *, foreground: bool
    ) -> dict[str, Any]:
        directory = self.directory(manifest.prefix)
        details: dict[str, Any] = {"local": {"directory": str(directory)}}
        if foreground:
            stop = threading.Event()
            supervisor = Supervisor(directory, manifest, stop)
            thread = threading.Thread(target=supervisor.run, name="batchmap-local", daemon=True)
            thread.start()
            self._threads[manifest.prefix] = (thread, stop)
            details["local"]["mode"] = "foreground"
            return details
        log = directory / "local" / "supervisor.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "batchmap.backends.local.supervisor", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        details["local"].update(mode="detached", pid=process.pid)
        return details

    def plan(self, plan: ExecutionPlan) -> BackendPlan:
        """What --dryRun shows: how the children would run here."""
        assert plan.child is not None, "the task kind's part comes first"
        task = plan.launch_plan.task
        notes = [f"local backend: children run on this machine; the image {task.image} is not used"]
        if task.secrets:
            notes.append("local backend: secrets are AWS ARNs and are not resolved here")
        directory = self.directory(plan.prefix)
        return BackendPlan(
            notes=tuple(notes),
            details={
                "local": {
                    "directory": str(directory),
                    "concurrency": plan.launch_plan.map.concurrency or os.cpu_count() or 1,
                    "attempts": task.retries + 1,
                    "timeoutSeconds": task.timeout_seconds,
                    # A template, or a command run as it is (flytekit's): both in the child.
                    "command": ["batchmap-task", "--", *plan.child.command],
                    "environment": child_environment(
                        plan.child,
                        plan.envs,
                        execution=plan.name,
                        size=plan.size,
                        inputs_uri="(staged inputs)",
                        output_prefix="(outputs)",
                    ),
                    "secrets": sorted(task.secrets),
                }
            },
        )

    def recover(self, plan: ExecutionPlan, manifest: Manifest) -> dict[str, Any] | None:
        """A SUBMITTING manifest: if a supervisor already started, record it; else submit."""
        status = self._status(manifest)
        if status is None:
            return None
        return {
            "local": {
                "directory": str(self.directory(manifest.prefix)),
                "pid": status.get("pid"),
                "mode": "recovered",
            }
        }

    def terminate(self, manifest: Manifest, reason: str, *, dry_run: bool = False) -> Stopped:
        """Stop the supervisor: it kills its children's process groups and records them."""
        status = self._status(manifest) or {}
        pid = int(status.get("pid") or 0)
        if status.get("finished") or not pid or not _alive(pid):
            return Stopped("nothing")
        if not dry_run:
            stop = self.directory(manifest.prefix) / STOP_FILE
            stop.write_text(json.dumps({"reason": reason}))  # the supervisor gives it each child
            entry = self._threads.get(manifest.prefix)
            if entry is not None:
                entry[1].set()
            else:
                os.kill(pid, signal.SIGINT)  # the supervisor (or `create --wait`) stops cleanly
        return Stopped(f"the local supervisor (pid {pid})", (str(pid),))

    def cleanup(self, manifest: Manifest) -> dict[str, Any] | None:
        return None

    def links(self, manifest: Manifest) -> list[str]:
        return []

    def interrupt(self, manifest: Manifest) -> str:
        entry = self._threads.get(manifest.prefix)
        if entry is None:
            return "the execution keeps running in its supervisor"
        thread, stop = entry
        stop.set()
        thread.join(timeout=30)
        return "stopped every running child; the manifest and status say what ran"

    def join(self, manifest: Manifest) -> None:
        entry = self._threads.get(manifest.prefix)
        if entry is not None:
            entry[0].join()

    # -- status -------------------------------------------------------------------------
    def _status(self, manifest: Manifest) -> dict[str, Any] | None:
        path = self.directory(manifest.prefix) / STATUS_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data

    def _children(self, manifest: Manifest) -> list[Child]:
        status = self._status(manifest)
        size = manifest.size
        if status is None:
            return [Child(i, "SUBMITTED") for i in range(size)]
        lost = (
            not status.get("finished")
            and manifest.prefix not in self._threads
            and not _alive(int(status.get("pid") or 0))
        )
        children = []
        for i, raw in enumerate(status["children"]):
            attempts = tuple(
                Attempt(
                    a["attempt"],
                    _time(a["startedAt"]),
                    _time(a["stoppedAt"]),
                    a["exitCode"],
                    a["reason"],
                    a["log"],
                )
                for a in raw["attempts"]
            )
            state = raw["status"]
            reason = raw.get("reason") or (attempts[-1].reason if attempts else None)
            if lost and state not in ("SUCCEEDED", "FAILED"):
                state, reason = "FAILED", LOST
            children.append(Child(i, state, attempts, reason, f"{manifest.name}:{i}"))
        return children

    def counts_many(self, manifests: list[Manifest]) -> list[Mapping[str, int]]:
        return [self.counts(m) for m in manifests]

    def counts(self, manifest: Manifest) -> Mapping[str, int]:
        counts = empty_counts()
        for child in self._children(manifest):
            counts[child.status] = counts.get(child.status, 0) + 1
        return counts

    def children(self, manifest: Manifest, query: ChildQuery) -> list[Child]:
        return order_children(to_original(manifest, self._children(manifest)), query)

    def snapshot(self, manifest: Manifest, query: ChildQuery) -> Snapshot:
        """Counts and children from one read of the status file."""
        every = self._children(manifest)
        counts = empty_counts()
        for child in every:
            counts[child.status] = counts.get(child.status, 0) + 1
        return Snapshot(counts, order_children(to_original(manifest, every), query))

    def statuses(self, manifest: Manifest, counts: Mapping[str, int]) -> list[str]:
        return [child.status for child in self._children(manifest)]

    def finished_at(self, manifest: Manifest) -> dt.datetime | None:
        stops = [a.stopped_at for c in self._children(manifest) for a in c.attempts]
        return max((s for s in stops if s is not None), default=None)

    def child_links(self, manifest: Manifest, child: Child) -> list[str]:
        """The log file of the child's latest attempt."""
        return [child.last.log] if child.last and child.last.log else []

    # -- logs ---------------------------------------------------------------------------
    def logs(
        self,
        manifest: Manifest,
        query: LogQuery,
        cursor: LogCursor,
    ) -> list[LogEvent]:
        """New lines of each attempt's log file since the cursor's byte offsets.

        Lines carry no time here: ``since`` keeps the attempts still running at that time."""
        offsets: dict[str, int] = cursor.state.setdefault("offsets", {})
        events = []
        every = ChildQuery(query.statuses, query.indexes, limit=None)
        attempt, since = query.attempt, query.since
        for child in sorted(self.children(manifest, every), key=lambda c: c.index):
            for a in child.attempts:
                if a.log is None or (attempt is not None and a.number != attempt):
                    continue
                if since is not None and a.stopped_at is not None and a.stopped_at < since:
                    continue
                start = offsets.get(a.log, 0)
                try:
                    with Path(a.log).open("rb") as handle:
                        handle.seek(start)
                        data = handle.read()
                except FileNotFoundError:
                    continue
                # Only whole lines, unless the attempt is over (then the tail too).
                complete = data if a.stopped_at else data[: data.rfind(b"\n") + 1]
                offsets[a.log] = start + len(complete)
                for line in complete.decode("utf-8", "replace").splitlines():
                    if LABEL_LINE.match(line):
                        continue
                    events.append(LogEvent(child.index, a.number, line))
        return events
