"""The lock of one execution name, on a local folder and on S3 (moto): exclusive
creation, the owner named, stale locks taken over by exactly one process, only one's own
lock renewed or released, and lost answers of the lock's own S3 calls."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from batchmap.aws.clients import ClientFactory
from batchmap.errors import InvalidInputError
from batchmap.executions.lock import (
    ExecutionLock,
    LockedError,
    LockLostError,
    Owner,
    lock_key,
)
from batchmap.files.store import BlobStore, LocalStore, S3Store
from tests.faultproxy import FaultProxy

PREFIX = "proj/dev/run1"
WHAT = "execution 'run1' in proj/dev"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "store")
        return
    request.getfixturevalue("aws")
    yield S3Store(boto3.client("s3", region_name="us-east-1"), "bm-bucket", "store")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _owner(store: BlobStore) -> Owner:
    data = store.get(lock_key(PREFIX))
    assert data is not None
    return Owner.from_json(data)


def _plant(store: BlobStore, **changes: object) -> Owner:
    """A lock written by someone else (another token), with ``changes`` to its identity."""
    owner = dataclasses.replace(Owner.me("someone-else", _now(), 120), **changes)
    store.put(lock_key(PREFIX), owner.to_json(), exclusive=True)
    return owner


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_one_holder_names_itself_and_the_second_is_refused(store: BlobStore) -> None:
    first = ExecutionLock(store, PREFIX, WHAT).acquire()
    owner = _owner(store)
    assert owner.token == first.token and owner.pid > 1 and owner.host and owner.user
    with pytest.raises(LockedError) as refused:
        ExecutionLock(store, PREFIX, WHAT).acquire()
    assert refused.value.exit_code == 3
    assert f"{WHAT} is being created by pid {owner.pid} on {owner.host}" in refused.value.message
    assert f"since {owner.acquired_at}" in refused.value.message
    first.release()
    assert store.get(lock_key(PREFIX)) is None
    ExecutionLock(store, PREFIX, WHAT).acquire().release()


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"pid": "dead"}, "is gone"),
        ({"started": "1"}, "is another process now"),
        ({"expires_at": "2000-01-01T00:00:00Z", "host": "elsewhere"}, "lease expired"),
        ({"boot": "another-boot"}, "restarted since"),
    ],
)
def test_a_stale_lock_is_taken_over(store: BlobStore, changes: dict, reason: str) -> None:
    if changes.get("pid") == "dead":
        changes = {"pid": _dead_pid()}
    stale = _plant(store, **changes)
    lock = ExecutionLock(store, PREFIX, WHAT).acquire()
    assert lock.taken_over is not None and lock.taken_over[0] == stale
    assert reason in lock.taken_over[1]
    assert _owner(store).token == lock.token
    lock.release()
    assert store.get(lock_key(PREFIX)) is None


def test_a_live_lock_elsewhere_is_respected_until_its_lease_ends(store: BlobStore) -> None:
    _plant(store, host="build-7", pid=4242, pidns="pid:[1]")
    with pytest.raises(LockedError, match="pid 4242 on build-7"):
        ExecutionLock(store, PREFIX, WHAT).acquire()
    later = ExecutionLock(store, PREFIX, WHAT, clock=lambda: _now() + dt.timedelta(minutes=3))
    assert later.acquire().taken_over is not None


def test_renewal_extends_the_lease_and_notices_a_takeover(store: BlobStore) -> None:
    clock = [_now()]
    lock = ExecutionLock(store, PREFIX, WHAT, lease=60, clock=lambda: clock[0]).acquire()
    first = _owner(store).expires_at
    clock[0] += dt.timedelta(seconds=30)
    lock.renew()
    assert _owner(store).expires_at > first and _owner(store).token == lock.token
    lock.check()
    # The process stalls past its lease; another takes the lock over.
    thief = ExecutionLock(store, PREFIX, WHAT, clock=lambda: clock[0] + dt.timedelta(minutes=5))
    assert thief.acquire().taken_over is not None
    lock.renew()
    with pytest.raises(LockLostError, match=f"taken over by pid {thief.owner.pid}"):  # type: ignore[union-attr]
        lock.check()
    lock.release()  # never deletes another's lock
    assert _owner(store).token == thief.token


def test_a_lease_that_ran_out_unrenewed_stops_the_holder(store: BlobStore) -> None:
    clock = [_now()]
    lock = ExecutionLock(store, PREFIX, WHAT, lease=60, clock=lambda: clock[0]).acquire()
    clock[0] += dt.timedelta(seconds=61)  # no renewal got through meanwhile
    with pytest.raises(LockLostError, match="could not be renewed"):
        lock.check()


def test_of_many_takers_of_one_stale_lock_exactly_one_wins(store: BlobStore) -> None:
    _plant(store, pid=_dead_pid())
    winners: list[ExecutionLock] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def take() -> None:
        lock = ExecutionLock(store, PREFIX, WHAT)
        start.wait()
        try:
            winners.append(lock.acquire())
        except LockedError as exc:
            refused.append(exc.message)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(refused) == 7
    assert _owner(store).token == winners[0].token


def test_the_context_manager_renews_in_the_background_and_releases(store: BlobStore) -> None:
    with ExecutionLock(store, PREFIX, WHAT, lease=60, renew=0.05) as lock:
        first = lock.tag
        deadline = _now() + dt.timedelta(seconds=10)
        while lock.tag == first and _now() < deadline:
            threading.Event().wait(0.05)
        assert lock.tag != first  # renewed at least once
    assert store.get(lock_key(PREFIX)) is None


def test_an_unreadable_lock_is_named_not_overwritten(store: BlobStore) -> None:
    store.put(lock_key(PREFIX), b"{not json", exclusive=True)
    with pytest.raises(InvalidInputError, match=r"lock\.json\) is unreadable"):
        ExecutionLock(store, PREFIX, WHAT).acquire()
    assert store.get(lock_key(PREFIX)) == b"{not json"


# -- the lock's own S3 calls under lost answers ------------------------------------------------
def test_lost_answers_of_the_lock_calls_are_recognised(proxy: FaultProxy, monkeypatch) -> None:
    from tests.aws_account import no_real_waits

    no_real_waits(monkeypatch)
    s3 = ClientFactory(endpoint_url=proxy.url).client("s3")
    store = S3Store(s3, "bm-bucket", "store")
    proxy.lose("s3:PutObject", path="/lock.json", times=1)
    lock = ExecutionLock(store, PREFIX, WHAT).acquire()  # its retried create says 412: ours
    assert proxy.count("s3:PutObject", path="/lock.json") == 2
    proxy.lose("s3:PutObject", path="/lock.json", times=1)
    lock.renew()  # the retried IfMatch put says 412: ours, so not lost
    lock.check()
    proxy.lose("s3:DeleteObject", path="/lock.json", times=1)
    lock.release()  # the retried conditional delete finds nothing: released
    direct = boto3.client("s3", region_name="us-east-1")
    listed = direct.list_objects_v2(Bucket="bm-bucket", Prefix="store/").get("Contents", [])
    assert not [o["Key"] for o in listed if o["Key"].endswith("lock.json")]
