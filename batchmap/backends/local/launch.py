"""How the local supervisor starts one attempt, at the cost of a process start.

- ``Inputs``: the staged inputs of the execution (``inputs.json``, ``items.idx``,
  ``items.jsonl``, a relaunch's index map) read once into memory and shared by every
  slot, so a child costs no file read (the runtime's ``load_item`` reads three);
  a file over ``CACHE_LIMIT`` is read by ranges as before.
- ``spawn``: ``os.posix_spawn`` (a ``vfork`` and an ``exec`` in C: no Python between
  them, no environment encoded in Python) of the prepared command, stdin on
  ``/dev/null``, stdout and stderr on the attempt's log, in a session of its own, with
  the default action for the signals Python ignores (``SIGPIPE``, ``SIGXFSZ``), no
  signal blocked and no other descriptor (those this process inherited are closed in
  the child; Python opens none inheritable): what ``subprocess.Popen(...,
  start_new_session=True)`` gives, for a third of its CPU. Without ``posix_spawn`` (or
  its ``setsid``), ``Popen`` it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
from collections.abc import Mapping
from typing import Any, Protocol

from batchmap.runtime import child as runtime

CACHE_LIMIT = 64 << 20  # a staged file above this is read by ranges, as in a container
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)


class Process(Protocol):
    """What the supervisor needs of a started child (``subprocess.Popen`` has it too)."""

    pid: int
    returncode: int | None

    def wait(self) -> int: ...

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...


class Spawned:
    """A child started by ``posix_spawn``: waited for by its slot alone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def _reaped(self, status: int) -> int:
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        """Block until it ends (the GIL is free meanwhile); its exit code, -N for signal N."""
        while self.returncode is None:
            try:
                _pid, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped by someone else: its status is lost
                self.returncode = 255
                break
            return self._reaped(status)
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 255
                return self.returncode
            if pid:
                return self._reaped(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)


class Inputs(runtime.Store):
    """The runtime's store, but the local staged files come from memory after one read."""

    def __init__(self, env: Mapping[str, str], cache: dict[str, Any]) -> None:
        super().__init__(env)
        self._cache = cache  # shared by the slots (a dict's get and set are atomic)

    def read(self, uri: str, start: int | None = None, end: int | None = None) -> bytes:
        data = self._cache.get(uri)
        if data is None:
            path = runtime.local_path(uri)
            data = self._load(uri, path) if path is not None else None
            if data is None:
                return super().read(uri, start, end)
        if start is None:
            return data
        return data[start : end or start]

    def _load(self, uri: str, path: str) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None  # the runtime's read says why
        try:
            if os.fstat(fd).st_size > CACHE_LIMIT:
                return None
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read(CACHE_LIMIT + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) > CACHE_LIMIT:
            return None
        self._cache[uri] = data
        return data


def _inherited() -> list[tuple[int, int]]:
    """Close actions for the descriptors a child would inherit besides 0, 1 and 2 (those
    this process was started with, such as a shell's ``3>file``)."""
    try:
        numbers = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: /dev/fd (macOS), else the first few hundred
        try:
            numbers = [int(name) for name in os.listdir("/dev/fd")]
        except OSError:
            numbers = list(range(3, 256))
    actions = []
    for fd in numbers:
        try:
            if fd > 2 and os.get_inheritable(fd):
                actions.append((os.POSIX_SPAWN_CLOSE, fd))
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
    return actions


class Spawner:
    """Starts prepared commands; one per supervisor (its /dev/null and its lookups)."""

    def __init__(self) -> None:
        self._null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._found: dict[tuple[str, str], str] = {}
        self.native = hasattr(os, "posix_spawn") and hasattr(os, "waitstatus_to_exitcode")
        self._close = _inherited() if self.native else []

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._null)

    def _which(self, command: str, env: Mapping[str, str]) -> str | None:
        """``command`` as ``exec`` would find it on the child's PATH (as Popen does)."""
        if os.sep in command:
            return command
        path = env.get("PATH", os.defpath)
        found = self._found.get((command, path))
        if found is None:
            for folder in os.get_exec_path({"PATH": path}):
                candidate = os.path.join(folder, command)
                if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
                    found = self._found[(command, path)] = candidate
                    break
        return found

    def spawn(self, prepared: runtime.Prepared, log: int) -> Process | int:
        """Start ``prepared`` with its output on ``log``: the process, or the exit code a
        shell gives a command that cannot start (``prepared.start_error`` says why)."""
        if not self.native:
            return runtime.start(
                prepared,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        command = prepared.command
        program = self._which(command[0], prepared.env) if command and command[0] else None
        if program is None:
            prepared.start_error = f"command not found: {command[0] if command else ''}"
            return runtime.EXIT_NOT_FOUND
        try:
            try:
                pid = self._spawn(program, command, prepared.env, log)
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
                self._close = _inherited()  # an inherited descriptor was closed meanwhile
                pid = self._spawn(program, command, prepared.env, log)
        except FileNotFoundError:
            prepared.start_error = f"command not found: {command[0]}"
            return runtime.EXIT_NOT_FOUND
        except NotImplementedError:  # no setsid here: Popen from now on
            self.native = False
            return self.spawn(prepared, log)
        except OSError as exc:  # permission, exec format, argument list too long
            prepared.start_error = f"cannot execute {command[0]}: {exc.strerror or exc}"
            return runtime.EXIT_NOT_EXECUTABLE
        return Spawned(pid)

    def _spawn(self, program: str, argv: list[str], env: Mapping[str, str], log: int) -> int:
        return os.posix_spawn(
            program,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, self._null, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
                *self._close,
            ],
            setsid=True,
            setsigmask=(),
            setsigdef=_DEFAULT_SIGNALS,
        )
