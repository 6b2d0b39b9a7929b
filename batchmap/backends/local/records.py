"""The records a local execution keeps in its folder, written by its supervisor
(supervisor.py) and read by any command (backend.py).

- ``local/status.json`` (``STATUS_FILE``): who supervises, whether it has finished; once
  it has, every child. Replaced whole, at the start and at the end (``write_json``).
- ``local/events.jsonl`` (``EVENTS_FILE``): one line per attempt that starts or ends and
  per child stopped before it started, appended in batches while the map runs
  (``Events``); ``read_events`` rebuilds the children from it.
- ``local/stop.json`` (``STOP_FILE``): why the execution was stopped (``delete``).
- ``logs/INDEX.ATTEMPT.log``: each attempt's output (``log_path``; the status file names
  the layout, and one without a name is older: ``logs/INDEX/ATTEMPT.log``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from batchmap.files.safe import open_private

STATUS_FILE = "local/status.json"
# Where each attempt's output goes: logs/INDEX.ATTEMPT.log, one folder for every child (a
# folder per child cost a mkdir each, the dearest step of a start on some disks). The
# status file names the layout; one without a name is older: logs/INDEX/ATTEMPT.log.
LOG_LAYOUT = "INDEX.ATTEMPT"


def log_path(logs: str, index: int, attempt: int, layout: str | None = LOG_LAYOUT) -> str:
    """An attempt's log in the execution's ``logs`` folder, by the status file's layout."""
    if layout == LOG_LAYOUT:
        return f"{logs}/{index}.{attempt}.log"
    return f"{logs}/{index}/{attempt}.log"


EVENTS_FILE = "local/events.jsonl"
STOP_FILE = "local/stop.json"  # why the execution was stopped (written by delete execution)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` by ``data`` (0600: envs and items are the user's own)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open_private(tmp) as handle:
        handle.write(json.dumps(data, separators=(",", ":")).encode())
    tmp.replace(path)


class Events:
    """``local/events.jsonl``: one line per change of a child, appended in batches.

    Slots ``add`` events (under the supervisor's lock); one thread ``take``s them (under
    it) and ``write``s them (outside it): events are encoded there, not by a slot between
    two children. A batch is one ``write``; one the disk refuses (ENOSPC) is cut off again
    and kept, encoded, for the next try, so the file only ever holds whole lines."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o600)
        os.fchmod(self.fd, 0o600)
        self.pending: list[dict[str, Any]] = []  # each a new dict, never changed after
        self.unwritten: list[str] = []  # encoded, refused by the disk so far

    def add(self, event: dict[str, Any]) -> None:
        self.pending.append(event)

    def take(self) -> list[dict[str, Any]]:
        taken, self.pending = self.pending, []
        return taken

    def write(self, events: list[dict[str, Any]]) -> None:
        """Write ``events`` after those still unwritten."""
        self.unwritten.extend(map(_ENCODE, events))
        if not self.unwritten:
            return
        data = ("\n".join(self.unwritten) + "\n").encode()
        size = os.fstat(self.fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:  # a full disk: keep running the children, write again later
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, size)
            return
        self.unwritten.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.write(self.take())
        os.close(self.fd)


def read_events(data: bytes, size: int) -> list[dict[str, Any]]:
    """The children as ``local/events.jsonl`` tells them (a last line still being written
    is left for the next read). ValueError for a file batchmap did not write."""
    children: list[dict[str, Any]] = [{"status": "RUNNABLE", "attempts": []} for _ in range(size)]
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        try:
            event = json.loads(line)
            child = children[event["i"]] if 0 <= event["i"] < size else None
            if child is None:
                raise ValueError(f"index {event['i']} is outside the map")
            if "status" in event and "a" not in event:  # never started: cancelled
                child.update(status=event["status"], reason=event["reason"])
            elif "end" not in event:  # an attempt starts
                if event["a"] != len(child["attempts"]) + 1:
                    raise ValueError(f"attempt {event['a']} of child {event['i']} is out of order")
                child["status"] = "RUNNING"
                child["attempts"].append(
                    {"attempt": event["a"], "startedAt": event["at"], "stoppedAt": None,
                     "exitCode": None, "reason": None}
                )  # fmt: skip
            else:  # an attempt ends
                attempt = child["attempts"][-1] if child["attempts"] else {}
                if attempt.get("attempt") != event["a"]:
                    raise ValueError(f"attempt {event['a']} of child {event['i']} never started")
                attempt.update(
                    stoppedAt=event["end"], exitCode=event["code"], reason=event["reason"]
                )
                child["status"] = event["status"]
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"line {number}: not an event ({type(exc).__name__}: {exc})") from None
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return children
