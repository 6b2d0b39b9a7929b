"""Local file writes that never leave a half-written file behind.

Every write goes to a temporary file in the target's folder, is flushed to
disk, and only then appears under its final name: by a rename (replace) or,
for an exclusive creation, by a hard link that fails when the name exists.
A reader sees the old content or the new, never a part; a failed write
(a full disk, a quota, a read-only filesystem, Ctrl-C) leaves no temporary
file, and a full disk is one line naming the file (``StorageWriteError``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from batchmap.errors import InvalidInputError, StorageWriteError
from batchmap.files.safe import private_dir, write_target

# The write errors a user fixes by freeing space or writing elsewhere, and how to say them.
FULL = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}


STORAGE_FIX = "free space or set storage: elsewhere"


def storage_error(
    exc: OSError, path: Path | str, fix: str = STORAGE_FIX
) -> StorageWriteError | None:
    """The one-line error for a full disk, a quota or a read-only filesystem, else None."""
    reason = FULL.get(exc.errno or 0)
    if reason is None:
        return None
    return StorageWriteError(f"{reason} writing {path}: {fix}", path=str(path))


@contextlib.contextmanager
def translated(path: Path | str, fix: str = STORAGE_FIX) -> Iterator[None]:
    """``with translated(path): ...`` turns ENOSPC, EDQUOT and EROFS into StorageWriteError."""
    try:
        yield
    except OSError as exc:
        error = storage_error(exc, path, fix)
        if error is None:
            raise
        raise error from exc


def atomic_write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write ``text`` (UTF-8) atomically; see ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def write_user_file(path: Path, text: str, *, force: bool) -> None:
    """Write a file the user named (a config, an exec file), mode 0600: through a symlink,
    never over anything but a regular file, never over an existing one without ``force``."""
    target = write_target(path)  # never replaces a device, a FIFO or a directory
    if path.exists() and not force:
        raise InvalidInputError(f"{path} already exists", hint="pass --force to overwrite it")
    atomic_write_text(target, text, mode=0o600)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    _publish(path, lambda handle: handle.write(data), mode, exclusive=False)


def atomic_write_stream(path: Path, stream: BinaryIO, *, mode: int = 0o600) -> None:
    """Copy ``stream`` to ``path`` through a temp file and a rename (large files)."""
    _publish(path, lambda out: shutil.copyfileobj(stream, out, 1 << 20), mode, exclusive=False)


def atomic_create_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` holding ``data`` unless it exists (``FileExistsError``): the temp
    file is written whole first and then hard-linked, so the name never shows a part."""
    _publish(path, lambda handle: handle.write(data), mode, exclusive=True)


def _publish(path: Path, fill: Callable[[BinaryIO], object], mode: int, *, exclusive: bool) -> None:
    with translated(path):
        private_dir(path.parent)  # 0700 folders, 0600 files by default, whatever the umask
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(mode)
            if exclusive:
                path.hardlink_to(tmp)  # atomic, and never replaces: EEXIST when taken
            else:
                tmp.replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
