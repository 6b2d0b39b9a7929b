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

import contextlib
import datetime as dt
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
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
from batchmap.backends.local import process
from batchmap.backends.local.process import Identity
from batchmap.backends.local.records import (
    EVENTS_FILE,
    LOG_LAYOUT,
    STATUS_FILE,
    STOP_FILE,
    log_path,
    read_events,
)
from batchmap.backends.local.supervisor import (
    KILL_GRACE,
    LOST_REASON,
    MARKER,
    Supervisor,
    child_environment,
)
from batchmap.errors import InvalidInputError
from batchmap.executions.manifest import Manifest
from batchmap.executions.phase import STATUSES, empty_counts
from batchmap.executions.plan import ExecutionPlan
from batchmap.files.atomic import atomic_write_text
from batchmap.files.safe import open_private, strict_json
from batchmap.files.store import BlobStore, LocalStore
from batchmap.runtime.child import LABEL_LINE
from batchmap.times import parse_iso as _time

LOST = LOST_REASON
NEVER_STARTED = "Lost: the local supervisor stopped before it started (see local/supervisor.log)"
# How long `delete` lets the supervisor stop its children (it SIGKILLs them after
# KILL_GRACE) before it SIGKILLs the supervisor and what the children left behind.
STOP_GRACE = KILL_GRACE + 5.0


def _status_problem(data: Any, size: int) -> str | None:
    """Why ``data`` is not a status file of an execution of ``size`` children."""
    if not isinstance(data, dict) or not isinstance(data.get("children"), list):
        return "not a mapping with a list of children"
    if len(data["children"]) != size:
        return f"{len(data['children'])} children, the execution has {size}"
    for i, child in enumerate(data["children"]):
        if not isinstance(child, dict) or child.get("status") not in STATUSES:
            return f"child {i} has no known status"
        attempts = child.get("attempts")
        if not isinstance(attempts, list):
            return f"child {i} has no list of attempts"
        for a in attempts:
            if not (
                isinstance(a, dict)
                and isinstance(a.get("attempt"), int)
                and all(isinstance(a.get(k), str | None) for k in ("startedAt", "stoppedAt"))
                and isinstance(a.get("exitCode"), int | None)
                and isinstance(a.get("reason"), str | None)
            ):
                return f"child {i} has an unreadable attempt"
            try:
                _time(a.get("startedAt"))
                _time(a.get("stoppedAt"))
            except ValueError:
                return f"child {i} has an unreadable time"
    return None


class LocalBackend:
    name = "local"

    def __init__(self, store: BlobStore) -> None:
        if not isinstance(store, LocalStore):
            raise InvalidInputError(
                "the local backend needs a local storage folder",
                hint="set storage to a folder, or use --backend aws",
            )
        self.store = store
        # Executions this process runs (create --wait): thread, stop event, supervisor.
        self._threads: dict[str, tuple[threading.Thread, threading.Event, Supervisor]] = {}
        # Finished executions read here, by their status file's identity: a command that
        # looks at one several times (counts, children, the summary) reads it once.
        self._finished: dict[str, tuple[tuple[int, int, int], list[Child]]] = {}

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
            self._threads[manifest.prefix] = (thread, stop, supervisor)
            details["local"]["mode"] = "foreground"
            return details
        log = directory / "local" / "supervisor.log"
        with open_private(log) as handle:
            started = subprocess.Popen(
                [sys.executable, "-m", "batchmap.backends.local.supervisor", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Its start time, known from the fork on: a supervisor that dies before writing
        # its status is seen as dead, not as forever about to start.
        found = process.identity_of(started.pid)
        spawned = Identity(found.pid, found.start, found.uid, ()) if found else None
        details["local"].update(mode="detached", pid=started.pid)
        if spawned is not None:
            details["local"]["supervisor"] = spawned.to_dict()
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

    def terminate(
        self, manifest: Manifest, reason: str, *, dry_run: bool = False, wait: bool = True
    ) -> Stopped:
        """Stop the supervisor (SIGTERM: it stops its children and records them); with
        ``wait``, SIGKILL it and every process of the execution if it has not stopped
        within STOP_GRACE. Only a process proven to be this execution's supervisor is
        signalled (process.py); when it is gone, what its children left is stopped."""
        status = self._status(manifest) or {}
        if status.get("finished"):
            return Stopped("nothing")
        if not dry_run:  # the supervisor gives this reason to each child it stops
            atomic_write_text(
                self.directory(manifest.prefix) / STOP_FILE, json.dumps({"reason": reason})
            )
        entry = self._threads.get(manifest.prefix)
        if entry is not None:  # run by this process (create --wait): stop its thread
            if not dry_run:
                entry[1].set()
            return Stopped(f"the local supervisor (pid {os.getpid()})", (str(os.getpid()),))
        supervisor = self._supervisor(manifest, status)
        if not process.alive(supervisor):
            left = [] if dry_run else process.kill_members(MARKER, manifest.output_prefix)
            if left:
                return Stopped(
                    f"{len(left)} processes its dead supervisor left", tuple(map(str, left))
                )
            return Stopped("nothing")
        assert supervisor is not None
        what = Stopped(f"the local supervisor (pid {supervisor.pid})", (str(supervisor.pid),))
        if dry_run:
            return what
        # SIGTERM, not SIGINT: a `create --wait` started in the background of a script
        # ignores SIGINT; batchmap treats SIGTERM as Ctrl-C.
        process.send(supervisor, signal.SIGTERM)
        if wait:
            end = time.monotonic() + STOP_GRACE
            while time.monotonic() < end and process.alive(supervisor):
                if (self._status(manifest) or {}).get("finished"):
                    return what
                time.sleep(0.1)
            if process.alive(supervisor) and not (self._status(manifest) or {}).get("finished"):
                process.send(supervisor, signal.SIGKILL)  # its children die with it
                process.kill_members(MARKER, manifest.output_prefix)
        return what

    def cleanup(self, manifest: Manifest) -> dict[str, Any] | None:
        return None

    def links(self, manifest: Manifest) -> list[str]:
        return []

    def interrupt(self, manifest: Manifest) -> str:
        entry = self._threads.get(manifest.prefix)
        if entry is None:
            return "the execution keeps running in its supervisor"
        _, stop, supervisor = entry
        stop.set()
        supervisor.ended.wait(timeout=30)
        return "stopped every running child; the manifest and status say what ran"

    def join(self, manifest: Manifest, timeout: float | None = None) -> bool:
        entry = self._threads.get(manifest.prefix)
        if entry is None:
            return False
        if timeout is None:
            entry[0].join()
        else:  # an Event, not Thread.join: a Ctrl-C during a timed join can leave the thread
            entry[2].ended.wait(timeout)  # marked as ended while it still runs (CPython)
        return True

    # -- status -------------------------------------------------------------------------
    def _live(self, manifest: Manifest) -> Supervisor | None:
        """The supervisor this process runs for ``manifest``, while it runs."""
        entry = self._threads.get(manifest.prefix)
        return entry[2] if entry is not None and not entry[2].ended.is_set() else None

    def _ended_here(self, manifest: Manifest) -> dict[str, Any] | None:
        """The final status file of the supervisor this process ran for ``manifest``, as
        it wrote it (None until then, and when it could not write it: a full disk)."""
        entry = self._threads.get(manifest.prefix)
        return entry[2].recorded if entry is not None and entry[2].ended.is_set() else None

    def _status(self, manifest: Manifest) -> dict[str, Any] | None:
        """The supervisor's status file (None before it wrote one), or, when this process
        runs the execution, its supervisor's memory, and once it has ended, the file as
        it wrote it (not read back); a damaged file is one clear error naming it, never
        a crash of the command that reads it."""
        live = self._live(manifest)
        if live is not None:
            return {"finished": False, "logs": LOG_LAYOUT, "children": live.snapshot()}
        recorded = self._ended_here(manifest)
        if recorded is not None:  # what it wrote at its end, never changed again
            return recorded
        path = self.directory(manifest.prefix) / STATUS_FILE
        try:
            info = path.stat()
            raw = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            data = strict_json(raw) if raw is not None else None
        except ValueError as exc:
            data, problem = None, f"not JSON ({exc})"
        else:
            running = isinstance(data, dict) and data.get("finished") is False
            if running and "children" not in data:  # the children are in its events
                path = self.directory(manifest.prefix) / EVENTS_FILE
                try:
                    data["children"] = read_events(_read_events(path), manifest.size)
                except ValueError as exc:
                    raise InvalidInputError(
                        f"{path}: not a readable events file: {exc}",
                        hint="it was changed by hand; delete the folder to forget the execution",
                    ) from None
            problem = _status_problem(data, manifest.size)
        if problem is not None:
            raise InvalidInputError(
                f"{path}: not a readable status file: {problem}",
                hint="it was changed by hand; delete the folder to forget the execution",
            )
        assert isinstance(data, dict)
        return data

    def _supervisor(self, manifest: Manifest, status: Mapping[str, Any]) -> Identity | None:
        """Who runs the execution: the identity the supervisor recorded, else the one
        recorded when it was started (None for a record that proves nothing)."""
        recorded = status.get("supervisor")
        if recorded is None:
            recorded = (manifest.run.get("local") or {}).get("supervisor")
        return Identity.from_dict(recorded) if isinstance(recorded, dict) else None

    def _running_here(self, manifest: Manifest) -> bool | None:
        """Whether this process's own supervisor thread runs (None: not run here)."""
        entry = self._threads.get(manifest.prefix)
        return not entry[2].ended.is_set() if entry is not None else None

    def _children(self, manifest: Manifest) -> list[Child]:
        token = None
        if self._ended_here(manifest) is not None:
            token = (-1, -1, -1)  # its supervisor's final state, in this process's memory
        elif self._live(manifest) is None:
            with contextlib.suppress(OSError):
                info = (self.directory(manifest.prefix) / STATUS_FILE).stat()
                token = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._finished.get(manifest.prefix)
        if token is not None and cached is not None and cached[0] == token:
            return list(cached[1])
        status = self._status(manifest)
        size = manifest.size
        here = self._running_here(manifest)
        if status is None:
            spawned = self._supervisor(manifest, {})
            if here is False or (here is None and spawned and not process.alive(spawned)):
                return [Child(i, "FAILED", (), NEVER_STARTED) for i in range(size)]
            return [Child(i, "SUBMITTED") for i in range(size)]
        lost = not status.get("finished") and (
            not here if here is not None else not process.alive(self._supervisor(manifest, status))
        )
        logs = f"{self.directory(manifest.prefix)}/logs"
        layout = status.get("logs")
        children = []
        for i, raw in enumerate(status["children"]):
            attempts = tuple(
                Attempt(
                    a["attempt"],
                    _time(a["startedAt"]),
                    _time(a["stoppedAt"]),
                    a["exitCode"],
                    a["reason"],
                    # Where the supervisor writes it, whatever the file says: a status
                    # file names no other file to read (only which of two layouts).
                    log_path(logs, i, a["attempt"], layout),
                )
                for a in raw["attempts"]
            )
            state = raw["status"]
            reason = raw.get("reason") or (attempts[-1].reason if attempts else None)
            if (lost or status.get("finished")) and state not in ("SUCCEEDED", "FAILED"):
                state, reason = "FAILED", LOST
            children.append(Child(i, state, attempts, reason, f"{manifest.name}:{i}"))
        if token is not None and status.get("finished") is True:
            self._finished[manifest.prefix] = (token, children)
            return list(children)
        return children

    def counts_many(self, manifests: list[Manifest]) -> list[Mapping[str, int]]:
        return [self.counts(m) for m in manifests]

    def counts(self, manifest: Manifest) -> Mapping[str, int]:
        counts = empty_counts()
        live = self._live(manifest)
        if live is not None:  # counted as they change: no child is looked at
            counts.update(live.count())
            return counts
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
        live = self._live(manifest)
        if live is not None:
            return live.statuses()
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
                data = _read_log(Path(a.log), start)
                if data is None:
                    continue
                # Only whole lines, unless the attempt is over (then the tail too).
                complete = data if a.stopped_at else data[: data.rfind(b"\n") + 1]
                offsets[a.log] = start + len(complete)
                for line in complete.decode("utf-8", "replace").splitlines():
                    if LABEL_LINE.match(line):
                        continue
                    events.append(LogEvent(child.index, a.number, line))
        return events


def _read_events(path: Path) -> bytes:
    """The events file, read as a log is (empty before any); ValueError when something
    other than a regular file stands in its place."""
    data = _read_log(path, 0)
    if data is None and (path.is_symlink() or path.exists()):
        raise ValueError("not a regular file")
    return data or b""


def _read_log(path: Path, start: int) -> bytes | None:
    """A log file from byte ``start``: a regular file, never through a symlink (a child
    may replace its log; it cannot make `logs` print another file)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # missing, or a symlink (ELOOP)
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder, a FIFO: before io opens it
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        handle.seek(start)
        return handle.read()
