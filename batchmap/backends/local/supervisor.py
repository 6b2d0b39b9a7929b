"""The local supervisor: runs an execution's children as processes, like AWS Batch would.

Each child runs through the runtime's own steps (``batchmap.runtime.child.prepare``,
``start``, ``finish``) with AWS Batch's environment (``AWS_BATCH_JOB_ARRAY_INDEX``,
``AWS_BATCH_JOB_ATTEMPT``, …), at most ``concurrency`` at a time, each attempt's output in
``logs/INDEX/ATTEMPT.log``. A failed attempt is retried up to ``retries``
times; an attempt past the timeout is killed and, as on AWS Batch, not
retried. The state of every child is written atomically to ``local/status.json``
(at most every 0.25 s), so another terminal can watch and tail it.

Run detached (``python -m batchmap.backends.local.supervisor EXECUTION_DIR``)
or in a thread of ``create execution --wait``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchmap import times
from batchmap.backends.local import process as processes
from batchmap.backends.local.watchdog import Watchdog
from batchmap.executions.manifest import INTERRUPTED_REASON, Manifest, decode
from batchmap.files.safe import open_private
from batchmap.runtime import child as runtime
from batchmap.runtime import env as contract
from batchmap.tasks.base import ChildSpec

STATUS_FILE = "local/status.json"
STOP_FILE = "local/stop.json"  # why the execution was stopped (written by delete execution)
WRITE_EVERY = 0.25
POLL = 0.01
KILL_GRACE = 5.0
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
LOST_REASON = "Lost: the local supervisor stopped before this child finished"


def _now() -> str:
    return str(times.iso(times.now()))


def _write_json(path: Path, data: Any) -> None:
    """Replace ``path`` by ``data`` (0600: envs and items are the user's own)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open_private(tmp) as handle:
        handle.write(json.dumps(data, separators=(",", ":")).encode())
    tmp.replace(path)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
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


def stop_all(processes: list[subprocess.Popen[bytes]], grace: float = KILL_GRACE) -> None:
    """SIGTERM every child at once, SIGKILL those still running after ``grace`` seconds
    (one grace for all, not one each), and reap them."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end and any(p.poll() is None for p in processes):
        time.sleep(0.05)
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)


@dataclass
class Running:
    """One attempt in flight (``process`` is an exit code when it could not start)."""

    process: subprocess.Popen[bytes] | int
    deadline: float | None
    handle: Any
    prepared: runtime.Prepared | None
    reason: str | None = None  # why it ended, when batchmap ended it (timeout, no start)
    kill_at: float | None = None  # SIGKILL then, when SIGTERM was not enough

    def close(self, code: int) -> tuple[int, str | None]:
        """Close the log and keep the output: (exit code, why it failed when the output
        could not be kept). Never raises: one child's trouble stays that child's."""
        problem = None
        if self.prepared is not None:
            try:
                code = runtime.finish(self.prepared, code)  # Propeller's rules for as-is
                if self.prepared.message and self.handle is not None:
                    self.handle.write(f"{runtime.LABEL}: {self.prepared.message}\n".encode())
            except Exception as exc:  # a hostile $BATCHMAP_OUTPUT, a full disk, ...
                if code == 0:
                    code = runtime.EXIT_RUNTIME_ERROR
                problem = f"batchmap-task: the output was not stored: {_why(exc)}"
            self.prepared = None
        if self.handle is not None:
            with contextlib.suppress(OSError):
                if problem:
                    self.handle.write((problem + "\n").encode())
                self.handle.close()
            self.handle = None
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


class Supervisor:
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
        self.children: list[dict[str, Any]] = [
            {"status": "RUNNABLE", "attempts": []} for _ in range(size)
        ]
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
        self.finished = False
        self.interrupted = False
        self._last_write = 0.0
        self.identity = processes.current()
        self._die_with_us = processes.die_with_parent()
        self.watchdog: Watchdog | None = None

    # -- state --------------------------------------------------------------------------
    def status_data(self) -> dict[str, Any]:
        return {
            "pid": self.identity.pid,
            "supervisor": self.identity.to_dict(),  # who may be signalled (process.py)
            "updatedAt": _now(),
            "finished": self.finished,
            "interrupted": self.interrupted,
            "children": self.children,
        }

    def write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_write >= WRITE_EVERY:
            try:
                _write_json(self.dir / STATUS_FILE, self.status_data())
            except OSError:  # a full disk: keep running the children, write again later
                return
            self._last_write = now

    # -- processes ----------------------------------------------------------------------
    def _start(self, index: int) -> Running:
        """Start one attempt; whatever goes wrong fails this attempt alone, with a reason."""
        child = self.children[index]
        number = len(child["attempts"]) + 1
        log = self.dir / "logs" / str(index) / f"{number}.log"
        child["status"] = "RUNNING"
        child["attempts"].append(
            {
                "attempt": number,
                "startedAt": _now(),
                "stoppedAt": None,
                "exitCode": None,
                "reason": None,
                "log": str(log),
            }
        )
        deadline = time.monotonic() + float(self.timeout) if self.timeout else None
        handle = None
        try:
            handle = open_private(log)
            entry = self._launch(index, number, handle, deadline)
            if self.watchdog is not None and not isinstance(entry.process, int):
                self.watchdog.started(entry.process.pid)
            return entry
        except Exception as exc:  # E2BIG, a NUL byte, ENOSPC, a truncated items.idx, ...
            why = f"batchmap-task: the child could not start: {_why(exc)}"
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.write((why + "\n").encode())
                    handle.close()
            return Running(runtime.EXIT_RUNTIME_ERROR, deadline, None, None, reason=why)

    def _popen(self) -> dict[str, Any]:
        """How every child starts: in its own session (so its whole group can be stopped),
        dying with the thread that started it (PR_SET_PDEATHSIG, where there is one)."""
        return {
            "stdin": subprocess.DEVNULL,
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
            "preexec_fn": self._die_with_us,
        }

    def _launch(self, index: int, number: int, handle: Any, deadline: float | None) -> Running:
        """Start one attempt through the runtime's own steps (prepare, start, finish), in
        this process: the same index arithmetic, templating and outputs as in a container,
        one process per child instead of two."""
        env = dict(
            self.env,
            AWS_BATCH_JOB_ARRAY_INDEX=str(index),
            AWS_BATCH_JOB_ATTEMPT=str(number),
            AWS_BATCH_JOB_ID=f"{self.manifest.name}:{index}",
        )
        try:
            prepared = runtime.prepare(list(self.child.command), env)
        except runtime.RuntimeFailure as exc:
            handle.write(f"batchmap-task: error: {exc}\n".encode())
            return Running(runtime.EXIT_RUNTIME_ERROR, deadline, handle, None)
        try:
            handle.write((prepared.first_line() + "\n").encode())
            handle.flush()
            process = runtime.start(prepared, stdout=handle, **self._popen())
        except BaseException:
            runtime.finish(prepared, 1)  # its temporary folder goes, whatever happened
            raise
        if isinstance(process, int):
            handle.write(
                f"batchmap-task: cannot start {prepared.command[0]!r}: "
                f"{prepared.start_error}\n".encode()
            )
        return Running(process, deadline, handle, prepared)

    def _finish(
        self, index: int, code: int, reason: str | None, retry: bool, queue: collections.deque[int]
    ) -> None:
        child = self.children[index]
        attempt = child["attempts"][-1]
        attempt.update(stoppedAt=_now(), exitCode=code, reason=reason)
        if code == 0:
            child["status"] = "SUCCEEDED"
        elif retry and len(child["attempts"]) < self.max_attempts:
            child["status"] = "RUNNABLE"
            queue.append(index)
        else:
            child["status"] = "FAILED"

    def _poll(self, index: int, entry: Running, queue: collections.deque[int]) -> bool:
        """Look at one attempt: enforce its timeout, record it when it ended (True)."""
        process = entry.process
        code = process if isinstance(process, int) else process.poll()
        if code is None:
            assert not isinstance(process, int)
            now = time.monotonic()
            if entry.kill_at is None and entry.deadline is not None and now > entry.deadline:
                entry.reason = TIMEOUT_REASON  # SIGTERM now, SIGKILL after the grace
                _signal_group(process, signal.SIGTERM)
                entry.kill_at = now + KILL_GRACE
            elif entry.kill_at is not None and now > entry.kill_at:
                _signal_group(process, signal.SIGKILL)
                entry.kill_at = now + KILL_GRACE
            return False
        self._ended([process])
        code, problem = entry.close(runtime.exit_status(code))
        reason = entry.reason or problem
        if code != 0 and reason is None:
            reason = f"exited with code {code}"
        # As on AWS Batch, an attempt that timed out is not retried.
        self._finish(index, code, reason, retry=entry.reason != TIMEOUT_REASON, queue=queue)
        return True

    def _ended(self, ended: list[subprocess.Popen[bytes] | int]) -> None:
        """Children that ended: what they left in their process group ends too (as in a
        container, whose processes end with its main one), and the watchdog forgets them."""
        for process in ended:
            if isinstance(process, int):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            if self.watchdog is not None:
                self.watchdog.ended(process.pid)

    def run(self) -> None:
        queue: collections.deque[int] = collections.deque(range(self.size))
        running: dict[int, Running] = {}
        self.watchdog = Watchdog()
        self.write_status(force=True)
        try:
            while queue or running:
                if self.stop.is_set():
                    self._abort(queue, running)
                    break
                while queue and len(running) < self.concurrency:
                    index = queue.popleft()
                    running[index] = self._start(index)
                for index, entry in list(running.items()):
                    if self._poll(index, entry, queue):
                        del running[index]
                self.write_status()
                time.sleep(POLL)
        except BaseException as exc:  # a bug, or Ctrl-C in a detached run: record it
            self._give_up(queue, running, f"Lost: the local supervisor failed ({_why(exc)})")
            raise
        finally:
            self._give_up(queue, running, LOST_REASON)
            assert self.watchdog is not None
            self.watchdog.close()
            self.finished = True
            self.write_status(force=True)

    def _give_up(
        self, queue: collections.deque[int], running: dict[int, Running], reason: str
    ) -> None:
        """Stop and record what is still running or queued: a finished status file never
        holds a child that is still RUNNING (a waiter would wait for it forever)."""
        left = [e.process for e in running.values() if not isinstance(e.process, int)]
        stop_all(left)
        self._ended(list(left))
        for index, entry in list(running.items()):
            entry.close(1)
            self._finish(index, 1, reason, retry=False, queue=queue)
            del running[index]
        for index in queue:
            self.children[index].update(status="FAILED", reason=reason)
        queue.clear()

    def stop_reason(self) -> str:
        """Why the execution stops: the reason `delete execution` recorded, else Ctrl-C's."""
        try:
            return str(json.loads((self.dir / STOP_FILE).read_text())["reason"])
        except (OSError, ValueError, KeyError, TypeError):
            return INTERRUPTED_REASON

    def _abort(
        self,
        queue: collections.deque[int],
        running: dict[int, Running],
    ) -> None:
        """Stop every running child at once (SIGTERM, SIGKILL after one grace for all);
        each one stopped or never started carries the same reason as the manifest's
        termination record (docs/recovery.md)."""
        self.interrupted = True
        reason = self.stop_reason()
        left = [e.process for e in running.values() if not isinstance(e.process, int)]
        stop_all(left)
        self._ended(list(left))
        for index, entry in list(running.items()):
            entry.close(143)
            self._finish(index, 143, reason, retry=False, queue=queue)
            self.children[index]["reason"] = reason
            del running[index]
        for index in queue:
            self.children[index].update(status="FAILED", reason=reason)
        queue.clear()


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
