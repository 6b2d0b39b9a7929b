"""The local supervisor: runs an execution's children as processes, like AWS Batch would.

Each child runs through the runtime's own steps (``batchmap.runtime.child.prepare``,
``start``, ``finish``) with AWS Batch's environment (``AWS_BATCH_JOB_ARRAY_INDEX``,
``AWS_BATCH_JOB_ATTEMPT``, …), at most ``concurrency`` at a time, each attempt's output in
``logs/INDEX.ATTEMPT.log`` (``log_path``). A failed attempt is retried up to ``retries``
times; an attempt past the timeout is killed and, as on AWS Batch, not
retried.

It waits for its children, never polls them: ``concurrency`` slots (threads), each
starting a child and blocking until it ends (``Popen.wait``; with a timeout, a pidfd
the kernel wakes, on Linux 5.3+). Children start by ``vfork`` (no Python runs between
fork and exec), and one slot's child is exec'd while the others run. Outputs go to
one private scratch folder, and the state is written as it changes:
``local/status.json`` names the supervisor, each attempt that starts or ends appends a
line to ``local/events.jsonl`` (in batches, at most every 0.25 s), and when the
execution ends ``status.json`` holds every child. A child costs the same whatever the
size of the map.

Run detached (``python -m batchmap.backends.local.supervisor EXECUTION_DIR``)
or in a thread of ``create execution --wait``.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchmap import times
from batchmap.backends.local import process as processes
from batchmap.backends.local.launch import Inputs, Process, Spawner
from batchmap.backends.local.records import (
    EVENTS_FILE,
    LOG_LAYOUT,
    STATUS_FILE,
    STOP_FILE,
    Events,
    log_path,
    write_json,
)
from batchmap.backends.local.watchdog import Watchdog
from batchmap.executions.manifest import INTERRUPTED_REASON, Manifest, decode
from batchmap.runtime import child as runtime
from batchmap.runtime import env as contract
from batchmap.tasks.base import ChildSpec

WRITE_EVERY = 0.25
WAKE = 0.1  # how often a stop request is looked at while children run
KILL_GRACE = 5.0
PREPARE_AHEAD = 32  # attempts prepared in one go (supervisor._prepared)
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
LOST_REASON = "Lost: the local supervisor stopped before this child finished"
# The variable every child of one execution carries, and only they (process.members).
MARKER = "BATCHMAP_OUTPUT_PREFIX"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_now = times.iso_now


def _signal_group(process: Process, sig: int) -> None:
    """``sig`` to the child's process group (its own session: the child and what it
    started), while the child is not yet reaped (so its pid is still its own)."""
    if process.returncode is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:  # a group we may not signal whole: the child at least
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process.send_signal(sig)


@dataclass
class Running:
    """One attempt in flight (``process`` is an exit code when it could not start)."""

    process: Process | int
    deadline: float | None
    handle: int | None  # the log's file descriptor
    prepared: runtime.Prepared | None
    reason: str | None = None  # why it ended, when batchmap ended it (timeout, no start)
    kill_at: float | None = None  # SIGKILL then, when SIGTERM was not enough
    pidfd: int | None = None

    def say(self, line: str) -> None:
        if self.handle is not None:
            try:  # not contextlib.suppress: this runs for every child, between two
                os.write(self.handle, (line + "\n").encode())
            except OSError:  # a full disk: the attempt goes on without the line
                return

    def close(self, code: int) -> tuple[int, str | None]:
        """Keep the output and close the log: (exit code, why it failed when the output
        could not be kept). Never raises: one child's trouble stays that child's."""
        problem = None
        if self.prepared is not None:
            try:
                code = runtime.finish(self.prepared, code)  # Propeller's rules for as-is
                if self.prepared.message:
                    self.say(f"{runtime.LABEL}: {self.prepared.message}")
            except Exception as exc:  # a hostile $BATCHMAP_OUTPUT, a full disk, ...
                if code == 0:
                    code = runtime.EXIT_RUNTIME_ERROR
                problem = f"batchmap-task: the output was not stored: {_why(exc)}"
                self.say(problem)
            self.prepared = None
        for fd in (self.handle, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    continue
        self.handle = self.pidfd = None
        return code, problem


def _why(exc: BaseException) -> str:
    return (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


def child_environment(
    child: ChildSpec,
    envs: Mapping[str, str],
    *,
    execution: str,
    size: int,
    inputs_uri: str,
    output_prefix: str,
) -> dict[str, str]:
    """What batchmap adds to a local child's environment (on top of this process's own):
    the task's, the exec file's, then the contract's variables, as on AWS Batch."""
    return {
        **child.env,
        **envs,
        **contract.child_environment(
            execution=execution, inputs_uri=inputs_uri, output_prefix=output_prefix, size=size
        ),
        **child.runtime_env(),
        "AWS_BATCH_JOB_ARRAY_SIZE": str(size),
        "PYTHONUNBUFFERED": "1",
    }


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` ends (None without pidfds)."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:  # an older kernel
        return None


def _until_ended(process: Process, pidfd: int | None, seconds: float) -> bool:
    """Block until ``process`` ends or ``seconds`` pass (True when it ended); the GIL is
    free meanwhile. With a pidfd the kernel wakes us; without one (a kernel before 5.3),
    a short sleep loop."""
    if pidfd is not None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        ready = poller.poll(max(0, int(seconds * 1000) + 1))
        return bool(ready) and process.poll() is not None
    end = time.monotonic() + seconds
    while process.poll() is None:
        if time.monotonic() >= end:
            return False
        time.sleep(0.01)
    return True


class Supervisor:
    """Runs the children of one execution: ``concurrency`` worker threads, each starting a
    child and blocking until it ends (``Popen.wait``; a pidfd when a timeout applies), so
    the children of one slot start while the others' are still being exec'd, and nothing
    polls. One lock guards the bookkeeping; the main thread only flushes the events,
    relays a stop and records the end."""

    def __init__(
        self, execution_dir: Path, manifest: Manifest, stop: threading.Event | None = None
    ) -> None:
        self.dir = execution_dir
        self.manifest = manifest
        self.stop = stop or threading.Event()
        task = manifest.launch_plan.task
        size = manifest.size
        self.size = size
        self.max_attempts = task.retries + 1
        self.timeout = task.timeout_seconds
        concurrency = manifest.launch_plan.map.concurrency
        self.concurrency = max(1, int(concurrency or os.cpu_count() or 1))
        self.child = manifest.child
        self.command = list(self.child.command)
        self.children: list[dict[str, Any]] = [
            {"status": "RUNNABLE", "attempts": []} for _ in range(size)
        ]
        self.counts: collections.Counter[str] = collections.Counter(RUNNABLE=size)
        self.env = dict(os.environ)
        self.env.update(
            child_environment(
                manifest.child,
                manifest.envs,
                execution=manifest.name,
                size=size,
                inputs_uri=manifest.inputs_uri,
                output_prefix=manifest.output_prefix,
            )
        )
        self._inputs: dict[str, Any] = {}  # the staged inputs, read once for all slots
        # Stores (their S3 connections are not to be shared by threads): one that
        # prepares (under _preparing), and one per slot for the outputs.
        self._store = Inputs(self.env, self._inputs)
        self._stores = threading.local()
        self._preparing = threading.Lock()  # one slot prepares attempts at a time
        self._ready: dict[tuple[int, int], runtime.Prepared | Exception] = {}
        self.spawner: Spawner | None = None
        self.finished = False
        self.interrupted = False
        self.identity = processes.current()
        self.watchdog: Watchdog | None = None
        self.events: Events | None = None
        self.scratch = ""
        self._logs = self.dir / "logs"
        self._log_dir = str(self._logs)
        self._tick = 0.0
        self._lock = threading.Lock()
        self._queue: collections.deque[int] = collections.deque()
        self._running: dict[int, Running] = {}
        self._ending: str | None = None  # why every child stops now (a stop, a failure)
        self._failure: BaseException | None = None
        self._wake = threading.Event()  # set by the last slot to end, or by a failing one
        self.ended = threading.Event()  # set once run() has recorded the end
        self.recorded: dict[str, Any] | None = None  # the final status file, once written
        self._slots = 0

    # -- state --------------------------------------------------------------------------
    def status_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pid": self.identity.pid,
            "supervisor": self.identity.to_dict(),  # who may be signalled (process.py)
            "updatedAt": _now(),
            "finished": self.finished,
            "interrupted": self.interrupted,
            "logs": LOG_LAYOUT,
        }
        if self.finished:  # the whole story in one file; until then, events.jsonl
            data["children"] = self.children
        return data

    def write_status(self, force: bool = False) -> None:
        """The status file (at the start and at the end) or, in between, the events."""
        if not force:  # events and the watchdog's news, at most every WRITE_EVERY
            now = time.monotonic()
            if now - self._tick >= WRITE_EVERY:
                self._tick = now
                with self._lock:
                    taken = self.events.take() if self.events is not None else []
                    if self.watchdog is not None:
                        self.watchdog.flush()
                if self.events is not None:
                    self.events.write(taken)
            return
        data = self.status_data()
        try:
            write_json(self.dir / STATUS_FILE, data)
        except OSError:  # a full disk: the children keep running
            return
        if self.finished:
            self.recorded = data  # the final state, as the file holds it

    def _set(self, index: int, status: str, reason: str | None = None) -> None:
        """(Under the lock.) A child's new status, counted as it changes."""
        child = self.children[index]
        self.counts[child["status"]] -= 1
        self.counts[status] += 1
        child["status"] = status
        if reason is not None:
            child["reason"] = reason

    def snapshot(self) -> list[dict[str, Any]]:
        """The children as they are now, for this process's readers: no file read."""
        with self._lock:
            return [{**c, "attempts": [dict(a) for a in c["attempts"]]} for c in self.children]

    def statuses(self) -> list[str]:
        with self._lock:
            return [c["status"] for c in self.children]

    def count(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self.counts.items() if v}

    def _event(self, event: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.add(event)

    # -- one attempt --------------------------------------------------------------------
    def _start(self, index: int) -> Running:
        """Start one attempt; whatever goes wrong fails this attempt alone, with a reason."""
        with self._lock:
            child = self.children[index]
            number = len(child["attempts"]) + 1
            started = _now()
            self._set(index, "RUNNING")
            child["attempts"].append(
                {
                    "attempt": number,
                    "startedAt": started,
                    "stoppedAt": None,
                    "exitCode": None,
                    "reason": None,
                    "log": log_path(self._log_dir, index, number),
                }
            )
            self._event({"i": index, "a": number, "at": started})
        deadline = time.monotonic() + float(self.timeout) if self.timeout else None
        handle = None
        try:
            handle = self._open_log(index, number)
            entry = self._launch(index, number, handle, deadline)
        except Exception as exc:  # E2BIG, a NUL byte, ENOSPC, a truncated items.idx, ...
            with self._preparing:  # prepared ahead but never taken (its log failed)
                self._ready.pop((index, number), None)
            why = f"batchmap-task: the child could not start: {_why(exc)}"
            if handle is not None:
                with contextlib.suppress(OSError):
                    os.write(handle, (why + "\n").encode())
                    os.close(handle)
            return Running(runtime.EXIT_RUNTIME_ERROR, deadline, None, None, reason=why)
        if not isinstance(entry.process, int):
            with self._lock:
                if self.watchdog is not None:
                    self.watchdog.started(entry.process.pid)
                self._running[index] = entry
                ending = self._ending
            if ending is not None:  # a stop came while it started: it stops too
                _signal_group(entry.process, signal.SIGTERM)
        return entry

    def _open_log(self, index: int, number: int) -> int:
        """The attempt's log, 0600 in the 0700 logs folder, never through a symlink."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW
        return os.open(log_path(self._log_dir, index, number), flags, 0o600)

    def _launch(self, index: int, number: int, handle: int, deadline: float | None) -> Running:
        """Start one attempt through the runtime's own steps (prepare, start, finish), in
        this process: the same index arithmetic, templating and outputs as in a container,
        one process per child instead of two. Each child leads its own session, so its
        whole group can be stopped; nothing runs between fork and exec (vfork)."""
        entry = Running(runtime.EXIT_RUNTIME_ERROR, deadline, handle, None)
        try:
            prepared = self._prepared(index, number)
        except runtime.RuntimeFailure as exc:
            entry.say(f"{runtime.LABEL}: error: {exc}")
            return entry
        try:
            entry.say(prepared.first_line())
            assert self.spawner is not None
            process = self.spawner.spawn(prepared, handle)
        except BaseException:
            runtime.finish(prepared, 1)  # its output file goes, whatever happened
            raise
        if isinstance(process, int):
            command = prepared.command[0]
            entry.say(f"{runtime.LABEL}: cannot start {command!r}: {prepared.start_error}")
        entry.process, entry.prepared = process, prepared
        return entry

    def _prepared(self, index: int, number: int) -> runtime.Prepared:
        """The attempt ready to start. One that was not prepared yet is prepared with the
        attempts next in the queue (up to PREPARE_AHEAD in one go: a child costs a third
        of what it costs alone, between process starts); a queued attempt's number cannot
        change, and a retry is prepared only once the attempt before it has ended."""
        with self._preparing:
            ready = self._ready.pop((index, number), None)
            if ready is None:
                with self._lock:  # none once every child stops: they will not start
                    ahead = [
                        (i, len(self.children[i]["attempts"]) + 1)
                        for i in itertools.islice(self._queue, PREPARE_AHEAD - 1)
                        if self._ending is None
                    ]
                ready = self._prepare(index, number)
                for key in ahead:
                    if key not in self._ready:
                        self._ready[key] = self._prepare(*key)
        if isinstance(ready, Exception):
            raise ready
        store = getattr(self._stores, "store", None)
        if store is None:
            store = self._stores.store = Inputs(self.env, self._inputs)
        ready.store = store  # what finish writes the output through: this slot's own
        return ready

    def _prepare(self, index: int, number: int) -> runtime.Prepared | Exception:
        """One attempt through the runtime's own ``prepare``; what it raises, kept."""
        env = dict(
            self.env,
            AWS_BATCH_JOB_ARRAY_INDEX=str(index),
            AWS_BATCH_JOB_ATTEMPT=str(number),
            AWS_BATCH_JOB_ID=f"{self.manifest.name}:{index}",
        )
        try:
            return runtime.prepare(self.command, env, self._store, self.scratch)
        except Exception as exc:  # raised when that attempt is taken, for it alone
            return exc

    def _wait_for(self, entry: Running) -> int:
        """Block until the attempt ends, enforcing its timeout (SIGTERM, then SIGKILL after
        KILL_GRACE); its exit code as a shell says it."""
        process = entry.process
        if isinstance(process, int):
            return process
        if entry.deadline is None:
            return runtime.exit_status(process.wait())
        entry.pidfd = _pidfd(process.pid)
        while True:
            due = entry.kill_at if entry.kill_at is not None else entry.deadline
            if _until_ended(process, entry.pidfd, due - time.monotonic()):
                break
            now = time.monotonic()
            if entry.kill_at is None:
                entry.reason = TIMEOUT_REASON  # SIGTERM now, SIGKILL after the grace
                _signal_group(process, signal.SIGTERM)
                entry.kill_at = now + KILL_GRACE
            else:
                _signal_group(process, signal.SIGKILL)
                entry.kill_at = now + KILL_GRACE
        return runtime.exit_status(process.wait())

    def _poll(self, index: int, entry: Running, code: int) -> None:
        """Record an attempt that ended with ``code``: retried, done or failed."""
        process = entry.process
        if not isinstance(process, int):
            self._ended(process)
        code, problem = entry.close(code)
        with self._lock:
            if self.watchdog is not None and not isinstance(process, int):
                self.watchdog.ended(process.pid)
            self._running.pop(index, None)
            ending = self._ending
            if ending is not None and not isinstance(process, int) and code != 0:
                code, reason, retry = 143, ending, False  # stopped by the stop
                self.children[index]["reason"] = ending
            else:
                reason = entry.reason or problem
                if code != 0 and reason is None:
                    reason = f"exited with code {code}"
                # As on AWS Batch, an attempt that timed out is not retried.
                retry = entry.reason != TIMEOUT_REASON and ending is None
            self._finish(index, code, reason, retry=retry)

    def _finish(self, index: int, code: int, reason: str | None, retry: bool) -> None:
        """(Under the lock.) The attempt's end, and the child's next step."""
        child = self.children[index]
        attempt = child["attempts"][-1]
        stopped = _now()
        attempt.update(stoppedAt=stopped, exitCode=code, reason=reason)
        if code == 0:
            self._set(index, "SUCCEEDED")
        elif retry and len(child["attempts"]) < self.max_attempts:
            self._set(index, "RUNNABLE")
            self._queue.append(index)
        else:
            self._set(index, "FAILED")
        self._event(
            {"i": index, "a": attempt["attempt"], "end": stopped, "code": code,
             "reason": reason, "status": child["status"]}
        )  # fmt: skip

    @staticmethod
    def _ended(process: Process) -> None:
        """A child that ended: what it left in its process group ends too (as in a
        container, whose processes end with its main one)."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # nothing left, the usual case
            return

    # -- the slots ----------------------------------------------------------------------
    def _worker(self) -> None:
        """One slot: the next child, its whole attempt, again; until the queue is empty
        or every child stops."""
        try:
            while True:
                with self._lock:
                    if self._ending is not None or not self._queue:
                        return
                    index = self._queue.popleft()
                entry = self._start(index)
                self._poll(index, entry, self._wait_for(entry))
        except BaseException as exc:  # a bug: the main thread records it and stops all
            with self._lock:
                if self._failure is None:
                    self._failure = exc
        finally:
            with self._lock:
                self._slots -= 1
                if self._slots == 0 or self._failure is not None:
                    self._wake.set()  # the main thread need not wait for its next look

    def run(self) -> None:
        self._queue = collections.deque(range(self.size))
        (self.dir / "local").mkdir(mode=0o700, parents=True, exist_ok=True)
        self._logs.mkdir(mode=0o700, exist_ok=True)
        self.watchdog = Watchdog(MARKER, self.manifest.output_prefix)
        self.scratch = tempfile.mkdtemp(prefix="batchmap-outputs-")  # 0700
        self.spawner = Spawner()
        self.write_status(force=True)
        try:
            self.events = Events(self.dir / EVENTS_FILE)
        except OSError:  # a full disk: the status file says what it can at the end
            self.events = None
        workers = [
            threading.Thread(target=self._worker, name=f"batchmap-slot-{n}", daemon=True)
            for n in range(min(self.concurrency, self.size))
        ]
        try:
            self._slots = len(workers)
            for worker in workers:
                worker.start()
            while any(w.is_alive() for w in workers):
                if self._failure is not None:
                    raise self._failure
                self._wake.wait(WAKE)
                if self.stop.is_set() and self._ending is None:
                    self.interrupted = True
                    self._stop_all(workers, self.stop_reason())
                self.write_status()
            if self._failure is not None:
                raise self._failure
        except BaseException as exc:  # a bug, or Ctrl-C in a detached run: record it
            self._stop_all(workers, f"Lost: the local supervisor failed ({_why(exc)})")
            raise
        finally:
            self._stop_all(workers, LOST_REASON)
            self.watchdog.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.spawner.close()
            self.finished = True
            if self.events is not None:
                self.events.close()
            self.write_status(force=True)
            self.ended.set()

    def _stop_all(self, workers: list[threading.Thread], reason: str) -> None:
        """Stop every running child at once (SIGTERM, SIGKILL after one grace for all);
        each one stopped or never started carries ``reason`` (for a stop, the manifest's
        termination record's: docs/recovery.md). Returns once every slot has ended."""
        with self._lock:
            if self._ending is None:
                self._ending = reason
            reason = self._ending
            left = [e.process for e in self._running.values() if not isinstance(e.process, int)]
        for process in left:
            _signal_group(process, signal.SIGTERM)
        end = time.monotonic() + KILL_GRACE
        for worker in workers:
            worker.join(max(0.0, end - time.monotonic()))
        if any(w.is_alive() for w in workers):
            with self._lock:
                left = [e.process for e in self._running.values() if not isinstance(e.process, int)]
            for process in left:
                _signal_group(process, signal.SIGKILL)
            for worker in workers:
                worker.join(KILL_GRACE)
        with self._lock:
            for index, entry in list(self._running.items()):  # a slot that died with them
                entry.close(143)
                self._finish(index, 143, reason, retry=False)
                self._running.pop(index)
            for index in self._queue:
                self._set(index, "FAILED", reason)
                self._event({"i": index, "status": "FAILED", "reason": reason})
            self._queue.clear()
            for index, child in enumerate(self.children):  # a slot that died meanwhile
                if child["status"] in ("RUNNING", "RUNNABLE"):
                    self._set(index, "FAILED", reason)

    def stop_reason(self) -> str:
        """Why the execution stops: the reason `delete execution` recorded, else Ctrl-C's."""
        try:
            return str(json.loads((self.dir / STOP_FILE).read_text())["reason"])
        except (OSError, ValueError, KeyError, TypeError):
            return INTERRUPTED_REASON


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    execution_dir = Path(args[0])
    manifest = decode((execution_dir / "execution.json").read_bytes(), str(execution_dir))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Supervisor(execution_dir, manifest, stop).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
