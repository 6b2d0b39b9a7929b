"""Which process is which: the local backend signals only what it can prove is its own.

A status file names its supervisor by pid, and a pid is only a number: once the
supervisor is gone, the number may belong to any process, and a forged ``-1``
would mean "every process I may signal". So a supervisor records its
``Identity`` — pid, start time (field 22 of ``/proc/PID/stat``, clock ticks since
boot, which no later process with that pid shares), owner and command line —
and a signal is sent only to a live process with that same identity, through a
pidfd where the system has them (so the process checked is the one signalled),
and never to a pid ≤ 1.

Children die with their supervisor: its watchdog (watchdog.py) kills their process
groups, and every process whose environment carries the execution's own
``BATCHMAP_OUTPUT_PREFIX``, when a ``kill -9`` ends the supervisor or ``create
--wait``; ``delete`` finds and stops the same processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


@dataclass(frozen=True)
class Identity:
    """A process as it was when it recorded itself."""

    pid: int
    start: str  # /proc/PID/stat starttime, or ps's lstart where there is no /proc
    uid: int
    cmdline: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "start": self.start,
            "uid": self.uid,
            "cmdline": list(self.cmdline),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity | None:
        """The recorded identity, or None when the record is not one (never trusted)."""
        try:
            pid, start, uid = data["pid"], data["start"], data["uid"]
            cmdline = tuple(data["cmdline"])
        except (KeyError, TypeError):
            return None
        if not (
            isinstance(pid, int)
            and not isinstance(pid, bool)
            and isinstance(start, str)
            and isinstance(uid, int)
            and all(isinstance(a, str) for a in cmdline)
        ):
            return None
        return cls(pid, start, uid, cmdline)


def _proc_identity(pid: int) -> Identity | None:
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
        uid = (PROC / str(pid)).stat().st_uid
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    # The command name (field 2) may hold spaces and ')': fields resume after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    start = fields[19].decode()  # field 22 of the whole line
    args = tuple(a.decode("utf-8", "surrogateescape") for a in cmdline.split(b"\0") if a)
    return Identity(pid, start, uid, args)


def _ps_identity(pid: int) -> Identity | None:
    """Where there is no /proc (macOS): ps's start time and command line."""
    try:
        found = subprocess.run(
            ["ps", "-o", "uid=,lstart=,command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    line = found.stdout.strip()
    if found.returncode != 0 or not line:
        return None
    parts = line.split(None, 6)  # uid, then lstart's five words, then the command
    if len(parts) < 7:
        return None
    return Identity(pid, " ".join(parts[1:6]), int(parts[0]), tuple(parts[6].split()))


def identity_of(pid: int) -> Identity | None:
    """The identity of the live process ``pid`` (None when there is none)."""
    if pid <= 1:
        return None
    if PROC.is_dir():
        return _proc_identity(pid)
    return _ps_identity(pid)


def current() -> Identity:
    """This process's identity, as others will read it."""
    found = identity_of(os.getpid())
    if found is not None:
        return found
    return Identity(os.getpid(), "", os.getuid(), tuple(sys.argv))


def _same(found: Identity | None, recorded: Identity) -> bool:
    """``found`` is the process ``recorded``: pid, start time and owner, and the command
    line when one was recorded (a supervisor records its own; its parent records the
    child's identity right after the fork, before the command line is set)."""
    return (
        found is not None
        and (found.pid, found.start, found.uid) == (recorded.pid, recorded.start, recorded.uid)
        and (not recorded.cmdline or found.cmdline == recorded.cmdline)
    )


def alive(recorded: Identity | None) -> bool:
    """True when the process recorded is still running (the same process, not its pid)."""
    return recorded is not None and recorded.pid > 1 and _same(identity_of(recorded.pid), recorded)


def send(recorded: Identity | None, sig: int) -> bool:
    """Send ``sig`` to the recorded process if it is still that process; False otherwise.

    With a pidfd (Linux 5.3+) the identity is checked on the process the pidfd holds,
    so a pid reused between the check and the signal cannot be hit."""
    if recorded is None or recorded.pid <= 1 or recorded.uid != os.getuid():
        return False
    pidfd = None
    if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
        try:
            pidfd = os.pidfd_open(recorded.pid)
        except OSError:
            return False
    try:
        if not _same(identity_of(recorded.pid), recorded):
            return False
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(recorded.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def members(marker: str, value: str) -> Iterator[int]:
    """Pids of this user's processes whose environment sets ``marker=value`` (Linux)."""
    if not PROC.is_dir():
        return
    wanted = f"{marker}={value}".encode()
    me = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in (me, 1):
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid != os.getuid():
                continue
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                yield int(entry.name)


def kill_members(marker: str, value: str) -> list[int]:
    """SIGKILL every process ``members`` finds; the pids killed."""
    killed = []
    for pid in members(marker, value):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed
