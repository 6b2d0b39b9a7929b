"""The supervisor's watchdog: when the supervisor dies, however it dies, its children die.

``kill -9`` of a supervisor (or of ``create --wait``) gives it no chance to stop
its children; ``PR_SET_PDEATHSIG`` kills the children it started, but not what
they started themselves. So each supervisor starts one watchdog, a small process
in its own session that holds the read end of a pipe: the supervisor writes
``+PGID`` when a child starts (each child leads its own process group) and
``-PGID`` when it has ended. The pipe's write end lives in the supervisor alone
(children never inherit it), so end-of-file means the supervisor is gone; the
watchdog then SIGKILLs every group still listed and exits. A supervisor that ends
normally has no group listed, and the watchdog simply exits.

    python -m batchmap.backends.local.watchdog   # reads its pipe on stdin
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import IO


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the supervisor
    groups: set[int] = set()
    for line in sys.stdin.buffer:  # until end-of-file: the supervisor's end
        text = line.strip().decode("ascii", "replace")
        if len(text) > 1 and text[1:].isdigit() and int(text[1:]) > 1:
            (groups.add if text[0] == "+" else groups.discard)(int(text[1:]))
    for group in groups:
        with contextlib.suppress(OSError):  # gone already, or not ours
            os.killpg(group, signal.SIGKILL)
    return 0


class Watchdog:
    """The supervisor's side: start the watchdog, tell it about each child's group."""

    def __init__(self) -> None:
        self._pipe: IO[bytes] | None = None
        try:
            started = subprocess.Popen(
                [sys.executable, "-m", "batchmap.backends.local.watchdog"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives the supervisor's process group
            )
        except OSError:  # no watchdog: PR_SET_PDEATHSIG still kills the children
            return
        self.process = started
        self._pipe = started.stdin

    def _say(self, line: str) -> None:
        if self._pipe is None:
            return
        try:
            self._pipe.write(line.encode() + b"\n")
            self._pipe.flush()
        except OSError:  # the watchdog died: the children keep running, only unwatched
            self._pipe = None

    def started(self, group: int) -> None:
        self._say(f"+{group}")

    def ended(self, group: int) -> None:
        self._say(f"-{group}")

    def close(self) -> None:
        """The supervisor ends normally: the watchdog exits with nothing to kill."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)


if __name__ == "__main__":
    raise SystemExit(main())
