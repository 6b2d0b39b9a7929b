"""The local supervisor: runs an execution's children as processes, like AWS Batch would.

Each child runs through the runtime's own steps (``batchmap.runtime.task.prepare``,
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
from batchmap.executions.manifest import INTERRUPTED_REASON, Manifest, decode
from batchmap.runtime import child as runtime
from batchmap.runtime import env as contract
from batchmap.tasks.base import ChildSpec

STATUS_FILE = "local/status.json"
STOP_FILE = "local/stop.json"  # why the execution was stopped (written by delete execution)
WRITE_EVERY = 0.25
POLL = 0.01
KILL_GRACE = 5.0


def _now() -> str:
    return str(times.iso(times.now()))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    tmp.replace(path)


@dataclass
class Running:
    """One attempt in flight (``process`` is an exit code when it could not start)."""

    process: subprocess.Popen[bytes] | int
    deadline: float | None
    handle: Any
    prepared: runtime.Prepared | None

    def close(self, code: int) -> None:
        self.handle.close()
        if self.prepared is not None:
            runtime.finish(self.prepared, code)
            self.prepared = None


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

    # -- state --------------------------------------------------------------------------
    def status_data(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "updatedAt": _now(),
            "finished": self.finished,
            "interrupted": self.interrupted,
            "children": self.children,
        }

    def write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_write >= WRITE_EVERY:
            _write_json(self.dir / STATUS_FILE, self.status_data())
            self._last_write = now

    # -- processes ----------------------------------------------------------------------
    def _start(self, index: int) -> Running:
        """Start one attempt through the runtime's own steps (prepare, start, finish), in
        this process: the same index arithmetic, templating and outputs as in a container,
        one process per child instead of two."""
        child = self.children[index]
        number = len(child["attempts"]) + 1
        log = self.dir / "logs" / str(index) / f"{number}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("wb")
        env = dict(
            self.env,
            AWS_BATCH_JOB_ARRAY_INDEX=str(index),
            AWS_BATCH_JOB_ATTEMPT=str(number),
            AWS_BATCH_JOB_ID=f"{self.manifest.name}:{index}",
        )
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
        if self.child.attempt_var:  # the task's own 0-based attempt counter
            env[self.child.attempt_var] = str(number - 1)
        deadline = time.monotonic() + float(self.timeout) if self.timeout else None
        if not self.child.templated:  # e.g. flytekit's pyflyte-map-execute: run as it is
            handle.write(
                (runtime.label_line(index, number, self.size, self.manifest.name) + "\n").encode()
            )
            handle.flush()
            try:
                process: subprocess.Popen[bytes] | int = subprocess.Popen(
                    self.child.command_for(index),
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            except OSError:
                handle.write(f"batchmap-task: cannot start {self.child.command[0]!r}\n".encode())
                process = runtime.EXIT_NOT_FOUND
            return Running(process, deadline, handle, None)
        try:
            prepared = runtime.prepare(list(self.child.command), env)
        except runtime.RuntimeFailure as exc:
            handle.write(f"batchmap-task: error: {exc}\n".encode())
            return Running(runtime.EXIT_RUNTIME_ERROR, deadline, handle, None)
        handle.write((prepared.first_line() + "\n").encode())
        handle.flush()
        process = runtime.start(
            prepared,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if isinstance(process, int):
            handle.write(
                f"batchmap-task: cannot start {prepared.command[0]!r}: "
                f"{prepared.start_error}\n".encode()
            )
        return Running(process, deadline, handle, prepared)

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

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

    def run(self) -> None:
        queue: collections.deque[int] = collections.deque(range(self.size))
        running: dict[int, Running] = {}
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
                    process = entry.process
                    code = process if isinstance(process, int) else process.poll()
                    reason = None
                    if (
                        code is None
                        and entry.deadline is not None
                        and (time.monotonic() > entry.deadline)
                    ):
                        self._kill(process)  # type: ignore[arg-type]
                        code = process.returncode  # type: ignore[union-attr]
                        reason = "Job attempt duration exceeded timeout"
                    if code is None:
                        continue
                    code = runtime.exit_status(code)
                    entry.close(code)
                    del running[index]
                    if code != 0 and reason is None:
                        reason = f"exited with code {code}"
                    self._finish(
                        index,
                        code,
                        reason,
                        retry=reason is None or "timeout" not in reason,
                        queue=queue,
                    )
                self.write_status()
                time.sleep(POLL)
        finally:
            for entry in running.values():
                if not isinstance(entry.process, int):
                    self._kill(entry.process)
                entry.close(1)
            self.finished = True
            self.write_status(force=True)

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
        """Stop every child; each one stopped or never started carries the same reason
        as the manifest's termination record (docs/recovery.md)."""
        self.interrupted = True
        reason = self.stop_reason()
        for index, entry in list(running.items()):
            if not isinstance(entry.process, int):
                self._kill(entry.process)
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
