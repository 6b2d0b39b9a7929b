"""One creator per execution name: a lock object with its owner's identity and a lease.

``PROJECT/DOMAIN/NAME/lock.json`` is created exclusively (an ``O_EXCL``-like
hard link on a local store, ``IfNoneMatch='*'`` on S3) by the one
``create execution`` that may stage, register and submit that name. It names
its owner (host, pid, the process's start time, user, a random token) and a
lease that the owner renews while it works; the owner deletes it at the end.

A lock is stale when its lease has expired, or when its owner ran on this
machine and that process is gone (its pid is free, or now belongs to a process
started at another time). A stale lock is taken over by replacing exactly the
version that was judged stale (``IfMatch=ETAG`` on S3, a compare-and-swap under
a folder flock locally), so two processes never both take over one lock; the
half-finished execution it leaves is then completed by ``recover`` as after any
crash. Only a lock carrying one's own token is renewed or deleted.

Clocks: a lease is compared with this machine's clock, so machines that share
an S3 store must agree on the time within the lease (NTP does far better).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from batchmap.errors import BatchmapError, InvalidInputError
from batchmap.files.store import AlreadyExists, BlobStore, Changed

LOCK = "lock.json"
LEASE_SECONDS = 120.0
RENEW_SECONDS = 20.0
_ROUNDS = 8  # create / read / take over: a few rounds are enough under any contention


def lock_key(prefix: str) -> str:
    return f"{prefix}/{LOCK}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When the kernel started ``pid`` (clock ticks since boot; "zombie" for a process that
    has ended but is not reaped), None when unreadable: with the boot id it tells a live
    owner from a new process on a reused pid."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    if fields[0] in ("Z", "X"):
        return "zombie"
    return fields[19]  # field 22 of proc(5): starttime


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())


@dataclass(frozen=True)
class Owner:
    """Who holds a lock, and until when."""

    host: str
    pid: int
    user: str
    token: str
    acquired_at: str
    expires_at: str
    started: str | None = None  # process_start(pid)
    boot: str | None = None  # /proc/sys/kernel/random/boot_id
    pidns: str | None = None  # the pid namespace (containers share a hostname and boot id)

    @classmethod
    def me(cls, token: str, acquired: dt.datetime, lease: float) -> Owner:
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            user=_user(),
            token=token,
            acquired_at=_iso(acquired),
            expires_at=_iso(acquired + dt.timedelta(seconds=lease)),
            started=process_start(os.getpid()),
            boot=_read("/proc/sys/kernel/random/boot_id"),
            pidns=_pid_namespace(),
        )

    def to_json(self) -> bytes:
        data = {
            "host": self.host,
            "pid": self.pid,
            "user": self.user,
            "token": self.token,
            "acquiredAt": self.acquired_at,
            "expiresAt": self.expires_at,
            "processStart": self.started,
            "bootId": self.boot,
            "pidNamespace": self.pidns,
        }
        return (json.dumps(data, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Owner:
        raw = json.loads(data)
        return cls(
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            user=str(raw.get("user") or "?"),
            token=str(raw["token"]),
            acquired_at=str(raw["acquiredAt"]),
            expires_at=str(raw["expiresAt"]),
            started=raw.get("processStart"),
            boot=raw.get("bootId"),
            pidns=raw.get("pidNamespace"),
        )

    def renewed(self, now: dt.datetime, lease: float) -> Owner:
        return replace(self, expires_at=_iso(now + dt.timedelta(seconds=lease)))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (user {self.user}) since {self.acquired_at}"

    def stale(self, now: dt.datetime) -> str | None:
        """Why this lock no longer protects anyone, or None while its owner may be working."""
        expires = dt.datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))
        if expires <= now:
            return f"its lease expired at {self.expires_at}"
        if (self.host, self.pidns) != (socket.gethostname(), _pid_namespace()):
            return None  # another machine or container: only the lease can tell
        boot = _read("/proc/sys/kernel/random/boot_id")
        if self.boot and boot and self.boot != boot:
            return f"{self.host} restarted since"
        if not _alive(self.pid):
            return f"pid {self.pid} is gone"
        started = process_start(self.pid)
        if started == "zombie":
            return f"pid {self.pid} has ended"
        if self.started and started and started != self.started:
            return f"pid {self.pid} is another process now"
        return None


def _pid_namespace() -> str | None:
    try:
        return str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return None


class LockedError(InvalidInputError):
    """Another ``create execution`` holds the lock of this name (exit 3)."""

    def __init__(self, what: str, owner: Owner) -> None:
        super().__init__(
            f"{what} is being created by {owner.describe()}",
            hint=f"wait for it to finish; if that process is gone, its lock expires at "
            f"{owner.expires_at}",
        )
        self.owner = owner


class LockLostError(InvalidInputError):
    """The lease ran out and another process took the lock over: stop before submitting."""


class ExecutionLock:
    """``with ExecutionLock(store, prefix, what): ...`` — exactly one holder per name.

    The holder renews its lease every ``renew`` seconds in a daemon thread;
    ``check()`` raises ``LockLostError`` when the lock was taken over meanwhile
    (call it before an irreversible step). ``taken_over`` says whose stale lock
    this one replaced, and why.
    """

    def __init__(
        self,
        store: BlobStore,
        prefix: str,
        what: str,
        *,
        lease: float = LEASE_SECONDS,
        renew: float = RENEW_SECONDS,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = store
        self.key = lock_key(prefix)
        self.what = what
        self.lease = lease
        self.renew_every = renew
        self.clock = clock
        self.token = secrets.token_hex(16)
        self.owner: Owner | None = None
        self.tag: str | None = None
        self.taken_over: tuple[Owner, str] | None = None
        self.lost: Owner | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # -- the three steps --------------------------------------------------------------------
    def acquire(self) -> ExecutionLock:
        holder: Owner | None = None
        for _ in range(_ROUNDS):
            mine = Owner.me(self.token, self.clock(), self.lease)
            try:
                self.tag = self.store.put(self.key, mine.to_json(), exclusive=True)
                self.owner = mine
                return self
            except AlreadyExists:
                pass
            current = self.store.get_tagged(self.key)
            if current is None:
                continue  # released meanwhile
            data, tag = current
            holder = self._parse(data)
            if holder.token == self.token:  # our own create, whose answer was lost
                self.owner, self.tag = holder, tag
                return self
            reason = holder.stale(self.clock())
            if reason is None:
                raise LockedError(self.what, holder)
            try:  # replace exactly the version judged stale: one taker wins
                self.tag = self.store.put(self.key, mine.to_json(), if_match=tag)
            except Changed:
                continue  # another taker, or the owner renewed: look again
            self.owner, self.taken_over = mine, (holder, reason)
            return self
        assert holder is not None
        raise LockedError(self.what, holder)

    def renew(self) -> None:
        """Extend the lease; notice when the lock was taken over meanwhile."""
        with self._mutex:
            if self.owner is None or self.lost is not None:
                return
            renewed = self.owner.renewed(self.clock(), self.lease)
            try:
                self.tag = self.store.put(self.key, renewed.to_json(), if_match=self.tag)
                self.owner = renewed
                return
            except Changed:
                pass
            current = self.store.get_tagged(self.key)
            holder = self._parse(current[0]) if current else None
            if current is not None and holder is not None and holder.token == self.token:
                self.owner, self.tag = holder, current[1]  # ours: an answer we did not see
            else:
                self.lost = holder or self.owner

    def release(self) -> None:
        """Delete the lock if it is still ours (never another's)."""
        self._stop_renewing()
        with self._mutex:
            if self.owner is None:
                return
            tag, self.owner = self.tag, None
            for _ in range(2):
                try:
                    self.store.delete(self.key, if_match=tag)
                    return
                except Changed:
                    current = self.store.get_tagged(self.key)
                    if current is None or self._parse(current[0]).token != self.token:
                        return  # gone, or another's: not ours to delete
                    tag = current[1]  # ours, written by an answer we did not see

    def check(self) -> None:
        """Raise LockLostError if another process took the lock over, or could have: the
        lease ran out because renewals failed (the store was unreachable)."""
        owner = self.owner
        if owner is not None and self.lost is None:
            expires = dt.datetime.fromisoformat(owner.expires_at.replace("Z", "+00:00"))
            if expires <= self.clock():
                raise LockLostError(
                    f"{self.what}: stopped before submitting: this process's lock expired at "
                    f"{owner.expires_at} (it could not be renewed), so another may hold it now",
                    hint="run the same command again: it completes the execution",
                )
        if self.lost is not None:
            raise LockLostError(
                f"{self.what}: stopped before submitting: the lock was taken over by "
                f"{self.lost.describe()} after this process's lease ran out",
                hint="nothing was submitted by this process; see the execution with "
                "'batchmap get execution'",
            )

    # -- renewal ------------------------------------------------------------------------------
    def __enter__(self) -> ExecutionLock:
        self.acquire()
        self._thread = threading.Thread(target=self._renewing, name="batchmap-lock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(BatchmapError):
            self.release()  # best effort: a lock left behind expires with its lease

    def _renewing(self) -> None:
        while not self._stop.wait(self.renew_every):
            with contextlib.suppress(BatchmapError):  # a failed renewal is tried again
                self.renew()

    def _stop_renewing(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _parse(self, data: bytes) -> Owner:
        try:
            return Owner.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"the lock of {self.what} ({self.store.uri(self.key)}) is unreadable: {exc}",
                hint="if no batchmap is creating this execution, delete that file and retry",
            ) from None
