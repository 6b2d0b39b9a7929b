"""``batchmap-task``: what runs inside every child, on AWS Batch or locally.

    batchmap-task -- COMMAND TEMPLATE...

The contract is flytekit's map-task contract: the child's index is
``BATCH_JOB_ARRAY_INDEX_OFFSET`` (default 0) plus the value of the variable
named by ``BATCH_JOB_ARRAY_INDEX_VAR_NAME`` (AWS sets
``AWS_BATCH_JOB_ARRAY_INDEX``). The runtime reads its item from the staged
inputs (``BATCHMAP_INPUTS``: a file:// or s3:// URI), fills the placeholders
of the template in argv only — never through a shell, so quotes, spaces and
``;`` arrive intact — runs the command, and stores what it wrote to
``$BATCHMAP_OUTPUT`` as ``outputs/INDEX.json``. Its exit code is the command's.

This module imports only the standard library (boto3 only for s3:// URIs), so
a child starts fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
INDEX_ENTRY = struct.Struct("<Q")
EXIT_RUNTIME_ERROR = 70  # sysexits EX_SOFTWARE: batchmap-task itself failed
EXIT_NOT_FOUND = 127  # the command does not exist, as a shell would say


class RuntimeFailure(Exception):
    """The runtime could not prepare the child (inputs unreadable, bad index, …)."""


# --- reading staged inputs ---------------------------------------------------------------


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def read_range(uri: str, start: int | None = None, end: int | None = None) -> bytes:
    """Bytes ``[start, end)`` of a file:// or s3:// object (the whole object without a range)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        with Path(unquote(parsed.path)).open("rb") as handle:
            if start is None:
                return handle.read()
            handle.seek(start)
            return handle.read((end or start) - start)
    if parsed.scheme == "s3":
        kwargs: dict[str, Any] = {"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")}
        if start is not None:
            kwargs["Range"] = f"bytes={start}-{(end or start) - 1}"
        data: bytes = _s3_client().get_object(**kwargs)["Body"].read()
        return data
    raise RuntimeFailure(f"unsupported inputs URI {uri!r}: expected file:// or s3://")


def write_bytes(uri: str, data: bytes) -> None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # outputs are private
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o600)
            handle.write(data)
        tmp.replace(path)
    elif parsed.scheme == "s3":
        _s3_client().put_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), Body=data)
    else:
        raise RuntimeFailure(f"unsupported output URI {uri!r}")


def sibling(uri: str, name: str) -> str:
    """``name`` next to ``uri``; an absolute URI (a relaunch reads its root's items) as is."""
    if "://" in name:
        return name
    return uri.rsplit("/", 1)[0] + "/" + name


def load_item(inputs_uri: str, position: int) -> tuple[Any, dict[str, Any], int, int]:
    """(item, broadcast inputs, size, index) of the child at ``position``: three small reads
    at any size, four for a relaunch, whose index map gives each position its original
    index (so items, ``{{ index }}`` and outputs stay those of the original execution)."""
    try:
        meta = json.loads(read_range(inputs_uri))
    except (OSError, ValueError) as exc:
        raise RuntimeFailure(f"cannot read inputs {inputs_uri}: {exc}") from None
    size = int(meta["size"])
    if not 0 <= position < size:
        raise RuntimeFailure(f"index {position} is outside the map's 0..{size - 1}")
    index = position
    if meta.get("indexMap"):
        raw = read_range(
            sibling(inputs_uri, meta["indexMap"]),
            position * INDEX_ENTRY.size,
            (position + 1) * INDEX_ENTRY.size,
        )
        index = INDEX_ENTRY.unpack_from(raw, 0)[0]
    index_uri = sibling(inputs_uri, meta["index"])
    items_uri = sibling(inputs_uri, meta["items"])
    raw = read_range(index_uri, index * INDEX_ENTRY.size, (index + 2) * INDEX_ENTRY.size)
    if len(raw) != 2 * INDEX_ENTRY.size:
        raise RuntimeFailure(f"the staged inputs are truncated: {index_uri} has no entry {index}")
    start, end = (INDEX_ENTRY.unpack_from(raw, i)[0] for i in (0, INDEX_ENTRY.size))
    data = read_range(items_uri, start, end) if start < end else b""
    try:
        if len(data) != end - start:
            raise ValueError("short")
        item = json.loads(data)
    except ValueError:
        raise RuntimeFailure(
            f"the staged inputs are damaged: item {index} of {items_uri}"
        ) from None
    return item, meta.get("broadcast", {}), size, index


# --- the template -------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """How a value appears inside an argument: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render(argv: Sequence[str], item: Any, broadcast: Mapping[str, Any], index: int) -> list[str]:
    """Fill {{ item }}, {{ item.F }}, {{ inputs.N }} and {{ index }} in each argument."""

    def value_of(expr: str) -> Any:
        if expr == "item":
            return item
        if expr == "index":
            return index
        head, _, rest = expr.partition(".")
        if head == "item" and isinstance(item, dict) and rest in item:
            return item[rest]
        if head == "inputs" and rest in broadcast:
            return broadcast[rest]
        raise RuntimeFailure(f"unknown placeholder {{{{ {expr} }}}}")

    return [PLACEHOLDER.sub(lambda m: as_text(value_of(m.group(1))), arg) for arg in argv]


def child_index(env: Mapping[str, str]) -> int:
    """flytekit's rule: offset + the value of the variable the index variable names."""
    offset = int(env.get("BATCH_JOB_ARRAY_INDEX_OFFSET") or 0)
    var = env.get("BATCH_JOB_ARRAY_INDEX_VAR_NAME")
    if not var:
        return offset
    if var not in env:
        raise RuntimeFailure(f"{var} is not set (named by BATCH_JOB_ARRAY_INDEX_VAR_NAME)")
    try:
        return offset + int(env[var])
    except ValueError:
        raise RuntimeFailure(f"{var}={env[var]!r} is not an integer") from None


MAX_OUTPUT_BYTES = 256 << 20  # far above any JSON a child writes; below running out of memory


def read_output(path: Path) -> bytes:
    """What the command wrote to ``$BATCHMAP_OUTPUT``: a regular file in the runtime's own
    folder, never through a symlink (a child cannot publish /etc/shadow through it)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:  # the folder, then the file in it: neither may be a symlink
        folder = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow)
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=folder)
        finally:
            os.close(folder)
    except FileNotFoundError:
        return b""
    except OSError as exc:  # ELOOP: a symlink
        raise RuntimeFailure(f"$BATCHMAP_OUTPUT is not a regular file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, a FIFO, a device
        os.close(fd)
        raise RuntimeFailure("$BATCHMAP_OUTPUT is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_OUTPUT_BYTES + 1)
    if len(data) > MAX_OUTPUT_BYTES:
        raise RuntimeFailure(f"$BATCHMAP_OUTPUT is over {MAX_OUTPUT_BYTES >> 20} MiB")
    return data


def store_output(path: Path, prefix: str, index: int) -> bool:
    """Copy what the command wrote to $BATCHMAP_OUTPUT to PREFIX/INDEX.json (JSON as is,
    other text as a JSON string). False when the command wrote nothing."""
    raw = read_output(path)
    if not raw:
        return False
    try:
        json.loads(raw)
        data = raw
    except ValueError:
        data = json.dumps(raw.decode("utf-8", "replace").rstrip("\n")).encode()
    write_bytes(f"{prefix.rstrip('/')}/{index}.json", data)
    return True


@dataclass
class Prepared:
    """A child ready to start: its command, environment and output file."""

    index: int
    attempt: str
    size: int
    command: list[str]
    env: dict[str, str]
    workdir: Path

    @property
    def output(self) -> Path:
        return self.workdir / "output.json"

    def first_line(self) -> str:
        # Names the child, so a log tailer can label streams without API calls.
        return (
            f"batchmap-task: index={self.index} attempt={self.attempt} size={self.size} "
            f"execution={self.env.get('BATCHMAP_EXECUTION', '')}"
        )


def prepare(argv: Sequence[str], env: Mapping[str, str]) -> Prepared:
    """Everything before the command starts: index, item, argv, environment."""
    position = child_index(env)
    inputs_uri = env.get("BATCHMAP_INPUTS")
    if not inputs_uri:
        raise RuntimeFailure("BATCHMAP_INPUTS is not set")
    item, broadcast, size, index = load_item(inputs_uri, position)
    command = render(argv, item, broadcast, index)
    workdir = Path(tempfile.mkdtemp(prefix="batchmap-"))
    child_env = dict(env)
    child_env.update(
        {
            "BATCHMAP_INDEX": str(index),
            "BATCHMAP_ITEM": json.dumps(item, ensure_ascii=False),
            "BATCHMAP_OUTPUT": str(workdir / "output.json"),
        }
    )
    return Prepared(index, env.get("AWS_BATCH_JOB_ATTEMPT", "1"), size, command, child_env, workdir)


def finish(prepared: Prepared, code: int) -> None:
    """After the command: keep its output when it succeeded, and clean up."""
    try:
        prefix = prepared.env.get("BATCHMAP_OUTPUT_PREFIX")
        if code == 0 and prefix:
            store_output(prepared.output, prefix, prepared.index)
    finally:
        shutil.rmtree(prepared.workdir, ignore_errors=True)


def start(prepared: Prepared, **popen: Any) -> subprocess.Popen[bytes] | int:
    """Start the command; an int is the exit code a shell would give when it cannot start."""
    try:
        return subprocess.Popen(prepared.command, env=prepared.env, **popen)
    except FileNotFoundError:
        print(
            f"batchmap-task: command not found: {prepared.command[0]}", file=sys.stderr, flush=True
        )
        return EXIT_NOT_FOUND
    except PermissionError:
        print(f"batchmap-task: not executable: {prepared.command[0]}", file=sys.stderr, flush=True)
        return 126


def exit_status(code: int) -> int:
    """A signal death (-N) as a shell reports it (128 + N)."""
    return code if code >= 0 else 128 - code


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run one child; return its exit code."""
    prepared = prepare(argv, env)
    print(prepared.first_line(), flush=True)
    process = start(prepared)
    if isinstance(process, int):
        finish(prepared, process)
        return process

    def forward(signum: int, _frame: Any) -> None:
        process.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    code = exit_status(process.wait())
    finish(prepared, code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print("usage: batchmap-task -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        return run(args, os.environ)
    except RuntimeFailure as exc:
        print(f"batchmap-task: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_RUNTIME_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
