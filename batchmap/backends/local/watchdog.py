"""The supervisor's watchdog: when the supervisor dies, however it dies, its children die.

``kill -9`` of a supervisor (or of ``create --wait``) gives it no chance to stop
its children. So each supervisor starts one watchdog, a small process in its own
session that holds the read end of a pipe: the supervisor writes ``+PGID`` when a
child starts (each child leads its own process group) and ``-PGID`` when it has
ended. The pipe's write end lives in the supervisor alone (children never inherit
it), so end-of-file means the supervisor is gone; the watchdog then SIGKILLs every
group still listed, and every process whose environment carries the execution's
marker (a child started just before the supervisor died, before it was listed, or
one that left its group), and exits. A supervisor that ends normally has no group
listed, and the watchdog simply exits.

    python -m batchmap.backends.local.watchdog MARKER VALUE   # reads its pipe on stdin
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
    if len(sys.argv) == 3:
        from batchmap.backends.local.process import kill_members

        kill_members(sys.argv[1], sys.argv[2])
    return 0


class Watchdog:
    """The supervisor's side: start the watchdog, tell it about each child's group."""

    def __init__(self, marker: str, value: str) -> None:
        self._pipe: IO[bytes] | None = None
        self._lines: list[bytes] = []
        try:
            started = subprocess.Popen(
                [sys.executable, "-m", "batchmap.backends.local.watchdog", marker, value],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives the supervisor's process group
            )
        except OSError:  # no watchdog: delete execution still finds the children
            return
        self.process = started
        self._pipe = started.stdin

    def started(self, group: int) -> None:
        """Said with the next ``flush``: a child that starts meanwhile carries the marker."""
        self._lines.append(b"+%d\n" % group)

    def ended(self, group: int) -> None:
        self._lines.append(b"-%d\n" % group)

    def flush(self) -> None:
        """Tell the watchdog what changed, in one write (the supervisor does it with its
        status, not once a child: the watchdog wakes a few times a second at most)."""
        if not self._lines:
            return
        data, self._lines = b"".join(self._lines), []
        if self._pipe is None:
            return
        try:
            self._pipe.write(data)
            self._pipe.flush()
        except OSError:  # the watchdog died: the children keep running, only unwatched
            self._pipe = None

    def close(self) -> None:
        """The supervisor ends normally: the watchdog exits with nothing to kill."""
        self._lines.clear()
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)


if __name__ == "__main__":
    raise SystemExit(main())
