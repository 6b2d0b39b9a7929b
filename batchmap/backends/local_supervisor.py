"""The local supervisor: runs an execution's children as processes, like AWS Batch would.

Each child is ``python -m batchmap.runtime -- TEMPLATE...`` with AWS Batch's
environment (``AWS_BATCH_JOB_ARRAY_INDEX``, ``AWS_BATCH_JOB_ATTEMPT``, …), at
most ``concurrency`` at a time, each attempt's output in
``logs/INDEX/ATTEMPT.log``. A failed attempt is retried up to ``retries``
times; an attempt past the timeout is killed and, as on AWS Batch, not
retried. The state of every child is written atomically to ``local/status.json``
(at most every 0.25 s), so another terminal can watch and tail it.

Run detached (``python -m batchmap.backends.local_supervisor EXECUTION_DIR``)
or in a thread of ``create execution --wait``.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "local/status.json"
WRITE_EVERY = 0.25
POLL = 0.01
KILL_GRACE = 5.0


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    tmp.replace(path)


class Supervisor:
    def __init__(
        self, execution_dir: Path, manifest: dict[str, Any], stop: threading.Event | None = None
    ) -> None:
        self.dir = execution_dir
        self.manifest = manifest
        self.stop = stop or threading.Event()
        task = manifest["launchPlanSpec"]["task"]
        size = int(manifest["size"])
        self.size = size
        self.max_attempts = int(task.get("retries", 0)) + 1
        self.timeout = task.get("timeout")
        concurrency = manifest["launchPlanSpec"]["map"].get("concurrency")
        self.concurrency = max(1, int(concurrency or os.cpu_count() or 1))
        self.command = [sys.executable, "-m", "batchmap.runtime", "--", *task["command"]]
        self.children: list[dict[str, Any]] = [
            {"status": "RUNNABLE", "attempts": []} for _ in range(size)
        ]
        self.env = dict(os.environ)
        self.env.update({str(k): str(v) for k, v in (task.get("env") or {}).items()})
        self.env.update(manifest.get("envs") or {})
        self.env.update(
            {
                "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "AWS_BATCH_JOB_ARRAY_INDEX",
                "BATCHMAP_INPUTS": manifest["inputsUri"],
                "BATCHMAP_OUTPUT_PREFIX": manifest["outputPrefix"],
                "BATCHMAP_EXECUTION": manifest["name"],
                "BATCHMAP_ARRAY_SIZE": str(size),
                "AWS_BATCH_JOB_ARRAY_SIZE": str(size),
                "PYTHONUNBUFFERED": "1",
            }
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
    def _start(self, index: int) -> tuple[subprocess.Popen[bytes], float | None, Any]:
        child = self.children[index]
        number = len(child["attempts"]) + 1
        log = self.dir / "logs" / str(index) / f"{number}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("wb")
        env = dict(
            self.env,
            AWS_BATCH_JOB_ARRAY_INDEX=str(index),
            AWS_BATCH_JOB_ATTEMPT=str(number),
            AWS_BATCH_JOB_ID=f"{self.manifest['name']}:{index}",
        )
        process = subprocess.Popen(
            self.command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
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
        deadline = time.monotonic() + float(self.timeout) if self.timeout else None
        return process, deadline, handle

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
        running: dict[int, tuple[subprocess.Popen[bytes], float | None, Any]] = {}
        self.write_status(force=True)
        try:
            while queue or running:
                if self.stop.is_set():
                    self._abort(queue, running)
                    break
                while queue and len(running) < self.concurrency:
                    index = queue.popleft()
                    running[index] = self._start(index)
                for index, (process, deadline, handle) in list(running.items()):
                    code = process.poll()
                    reason = None
                    if code is None and deadline is not None and time.monotonic() > deadline:
                        self._kill(process)
                        code = process.returncode
                        reason = "Job attempt duration exceeded timeout"
                    if code is None:
                        continue
                    handle.close()
                    del running[index]
                    if code < 0:
                        code = 128 - code
                    if code != 0 and reason is None:
                        reason = f"Essential container in task exited (exit code {code})"
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
            for process, _, handle in running.values():
                self._kill(process)
                handle.close()
            self.finished = True
            self.write_status(force=True)

    def _abort(
        self,
        queue: collections.deque[int],
        running: dict[int, tuple[subprocess.Popen[bytes], float | None, Any]],
    ) -> None:
        self.interrupted = True
        for index, (process, _, handle) in list(running.items()):
            self._kill(process)
            handle.close()
            self._finish(
                index, 143, "Terminated: the execution was interrupted", retry=False, queue=queue
            )
            del running[index]
        for index in queue:
            self.children[index].update(
                status="FAILED", reason="Cancelled: the execution was interrupted"
            )
        queue.clear()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    execution_dir = Path(args[0])
    manifest = json.loads((execution_dir / "execution.json").read_text())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Supervisor(execution_dir, manifest, stop).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
