"""Writes are atomic and a full disk is one line, with ENOSPC injected in-process.

The failure is injected where a full disk makes a real write fail — the data of a
temporary file reaching the disk (``os.fsync``), after part of it was written —
by monkeypatching ``os.fsync`` in ``batchmap.files.atomic``. A real full
filesystem (a small tmpfs) is used by tests/files/test_full_disk.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from batchmap.errors import StorageWriteError
from batchmap.files import atomic
from batchmap.files.atomic import atomic_create_bytes, atomic_write_bytes, atomic_write_stream
from batchmap.files.store import AlreadyExists, LocalStore
from tests.conftest import Invoke, write


def _full(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOSPC, times: int = 1) -> list[int]:
    """The next ``times`` fsyncs fail with ``code``; returns the count of failures so far."""
    failed = [0]
    real = os.fsync

    def fsync(fd: int) -> None:
        if failed[0] < times:
            failed[0] += 1
            raise OSError(code, os.strerror(code))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    return failed


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    "code, reason",
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EROFS, "read-only file system"),
    ],
)
def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    path = tmp_path / "execution.json"
    path.write_bytes(b"old")
    _full(monkeypatch, code)
    with pytest.raises(StorageWriteError) as error:
        atomic_write_bytes(path, b"new" * 10_000)
    assert error.value.message == f"{reason} writing {path}: free space or set storage: elsewhere"
    assert error.value.exit_code == 3
    assert path.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_an_exclusive_create_never_shows_a_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v1.json"
    seen = []
    real = os.fsync

    def fsync(fd: int) -> None:  # while the data is written, the name does not exist yet
        seen.append(path.exists())
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    atomic_create_bytes(path, b"whole")
    assert seen == [False] and path.read_bytes() == b"whole"
    with pytest.raises(FileExistsError):
        atomic_create_bytes(path, b"other")
    assert path.read_bytes() == b"whole" and _leftovers(tmp_path) == []
    _full(monkeypatch)
    with pytest.raises(StorageWriteError):
        atomic_create_bytes(tmp_path / "v2.json", b"x" * 100_000)
    assert not (tmp_path / "v2.json").exists() and _leftovers(tmp_path) == []


def test_store_writes_leave_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)
    _full(monkeypatch, times=3)
    for write_it in (
        lambda: store.put("p/d/x/inputs.json", b"{}"),
        lambda: store.put("p/d/x/execution.json", b"{}", exclusive=True),
        lambda: store.put_stream("p/d/x/items.jsonl", (tmp_path / "src").open("rb")),
    ):
        (tmp_path / "src").write_bytes(b"1\n" * 50_000)
        with pytest.raises(StorageWriteError, match="no space left on device writing"):
            write_it()
    assert sorted(p.name for p in (tmp_path / "p/d/x").iterdir()) == []
    store.put("p/d/x/execution.json", b"{}", exclusive=True)  # the name is free
    with pytest.raises(AlreadyExists):
        store.put("p/d/x/execution.json", b"{}", exclusive=True)
    atomic_write_stream(tmp_path / "copy", (tmp_path / "src").open("rb"))
    assert (tmp_path / "copy").read_bytes() == (tmp_path / "src").read_bytes()


def test_the_registry_registers_a_version_again_after_a_full_disk(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lp = write(
        tmp_path / "lp.yaml",
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[int]\n    default: [1, 2]\nmap:\n  over: [xs]\n"
        "task:\n  image: busybox\n  command: [echo, '{{ item }}']\n",
    )
    failed = _full(monkeypatch)
    result = cli("register", "files", str(lp))
    assert failed == [1] and result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: no space left on device writing ")
    assert line.endswith("/p/d/launchplans/lp/v1.json: free space or set storage: elsewhere")
    folder = Path(os.environ["HOME"]) / ".batchmap/registry/p/d/launchplans/lp"
    assert list(folder.iterdir()) == []  # neither a truncated v1.json nor a temp file
    again = cli("register", "files", str(lp))
    assert again.exit_code == 0, again.stderr
    assert cli("get", "launchplan", "-p", "p", "-d", "d", "lp").exit_code == 0


def test_a_full_disk_nobody_translated_is_still_one_line(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.launchplans import registry

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/somewhere/file")

    monkeypatch.setattr(registry.Registry, "list", full)
    result = cli("get", "launchplan", "-p", "p", "-d", "d")
    assert result.exit_code == 3
    assert result.stderr == (
        "error: no space left on device writing /somewhere/file: "
        "free space or set storage: elsewhere\n"
    )
