"""Reading and writing the files a user names, safely: only regular files, of bounded size.

Every file batchmap reads because a user named it (a config, a launch plan, an
exec file, a ``.pb`` or ``.tgz`` package) goes through ``read_bytes``: a FIFO, a
device (``/dev/zero``), a socket or a directory is refused with one line instead of
blocking forever or reading without end, and a file over its size cap is refused
before it is read. The file is opened once (``O_NONBLOCK``, so opening a FIFO
never waits for a writer) and checked on that descriptor, so what is checked is
what is read.

Every file batchmap writes where a user points it (``--execFile``, ``config init
--path``) goes through ``write_target``: a missing file or a regular file is
written; a symlink is written *through* (the link stays, the file it points to is
replaced atomically, as editors do); anything else — ``/dev/null``, a FIFO, a
directory — is refused (exit 3), so ``--force`` never replaces a device.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from batchmap.errors import InvalidInputError

MIB = 1 << 20
# Far above any real file of each kind; below what would exhaust memory.
YAML_LIMIT = 64 * MIB  # configs, launch plans, exec files (100,000 items are ~1 MiB)
PROTOBUF_LIMIT = 64 * MIB  # one flytekit .pb file, or one member of a package
PACKAGE_LIMIT = 256 * MIB  # a `pyflyte package` .tgz

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n:,} bytes"


def _open_regular(path: Path, what: str) -> tuple[int, os.stat_result]:
    """A read descriptor on ``path``, which must be a regular file (the caller closes it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path}: is a directory, expected {what}") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO on some systems
            raise InvalidInputError(f"{path}: is not a regular file, expected {what}") from None
        raise InvalidInputError(f"{path}: cannot read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InvalidInputError(f"{path}: is {kind_of(info.st_mode)}, expected {what}")
    return fd, info


def read_bytes(path: Path, *, what: str = "a file", limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (default
    ``YAML_LIMIT``); one clear ``InvalidInputError`` (exit 3) for anything else."""
    limit = YAML_LIMIT if limit is None else limit
    fd, info = _open_regular(path, what)
    try:
        if info.st_size > limit:
            raise InvalidInputError(
                f"{path}: is {_size(info.st_size)}, over the {_size(limit)} batchmap reads "
                f"as {what}"
            )
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:  # the size may change while we read: never read past the cap
            chunk = os.read(fd, min(MIB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InvalidInputError(f"{path}: grew past {_size(limit)} while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def check_regular(path: Path, *, what: str = "a file", limit: int | None = None) -> None:
    """Refuse ``path`` unless it is a regular file (of at most ``limit`` bytes), for readers
    that open the file themselves (tarfile)."""
    fd, info = _open_regular(path, what)
    os.close(fd)
    if limit is not None and info.st_size > limit:
        raise InvalidInputError(
            f"{path}: is {_size(info.st_size)}, over the {_size(limit)} batchmap reads as {what}"
        )


def write_target(path: Path) -> Path:
    """Where writing ``path`` must go: ``path`` itself (missing or a regular file), or the
    file a symlink points to (written through). Anything else is refused (exit 3)."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        info = target.stat()
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot write: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        via = f" (the symlink points to {target})" if target != path else ""
        raise InvalidInputError(
            f"{path}: is {kind_of(info.st_mode)}{via}; batchmap writes only regular files",
            hint="name a regular file",
        )
    return target


def private_dir(path: Path) -> None:
    """Make the folder ``path`` and its missing parents private to their owner (0700),
    whatever the umask; folders that exist already are left as they are."""
    missing = []
    parent = path
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another writer
        folder.chmod(0o700)  # the umask may have taken more than the group's and others' bits


def open_private(path: Path) -> BinaryIO:
    """``path`` created (or truncated) for writing, 0600 whatever the umask, never through
    a symlink."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows")


def strict_json(data: bytes | str) -> Any:
    """JSON as the standard has it: Python's ``NaN``/``Infinity`` extensions are refused
    (ValueError), so a record batchmap reads back holds only finite numbers."""
    return json.loads(data, parse_constant=_not_a_number)
