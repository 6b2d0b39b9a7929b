"""The child side of batchmap's contract: what runs inside every container.

    python3 child.py -- COMMAND TEMPLATE...      (or: batchmap-task -- COMMAND TEMPLATE...)

This one module is the whole contract, so that any image with a ``python3`` (3.8 or later)
can run a child with nothing installed: the AWS job definition carries this file inline
(``batchmap.runtime.bootstrap``), and ``batchmap-task`` and the local supervisor import it.
It therefore uses the standard library only, and Python 3.8 syntax.

- Index: ``BATCH_JOB_ARRAY_INDEX_OFFSET`` (default 0) plus the value of the variable named
  by ``BATCH_JOB_ARRAY_INDEX_VAR_NAME`` (AWS sets ``AWS_BATCH_JOB_ARRAY_INDEX``) — flytekit's
  map-task rule.
- Inputs (``BATCHMAP_INPUTS``, file:// or s3://, see batchmap/executions/staging.py):
  ``inputs.json``, 16 bytes of ``items.idx`` and one line of ``items.jsonl``, with range
  reads; a relaunch first reads its position's original index from ``indexmap.bin``.
- The template: ``{{ item }}``, ``{{ item.F }}``, ``{{ inputs.N }}``, ``{{ index }}`` are
  filled in each argument (strings as they are, other values as compact JSON), and the
  command runs as argv, never through a shell, with ``BATCHMAP_INDEX``, ``BATCHMAP_ITEM``
  and ``BATCHMAP_OUTPUT`` set. SIGTERM and SIGINT are forwarded to it.
- Outputs: what the command wrote to ``$BATCHMAP_OUTPUT`` is stored, when it exits 0, as
  ``BATCHMAP_OUTPUT_PREFIX/INDEX.json`` (JSON as it is, other text as a JSON string).
- Exit code: the command's; 127 when it does not exist, 126 when it cannot be executed,
  128+N when signal N ended it, 70 when the child itself failed (one line on stderr).
- The first line printed, ``batchmap-task: index=… attempt=… size=… execution=…``, labels
  the log stream (``batchmap logs`` reads it).
- A command run as it is (``BATCHMAP_AS_IS=1``: flytekit's ``pyflyte-map-execute``) gets no
  template and no staged item, but the same label line, its original index (through a
  relaunch's index map, given to it by flytekit's index rule), ``{{batchmap.index}}`` filled,
  its 0-based attempt in ``BATCHMAP_ATTEMPT_VAR``'s variable and, once it exits 0,
  Propeller's test of what it left (``flyte_outcome``): an ``error.pb`` fails the child.

S3 is spoken directly (no botocore in the image): SigV4-signed GET with Range and PUT,
credentials in the AWS SDKs' order (environment, web identity, ECS/EKS container
endpoint, EC2 IMDSv2), bounded retries with backoff on throttling, 5xx and connection
errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

LABEL = "batchmap-task"
INDEX_ENTRY = struct.Struct("<Q")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# The first line every child prints: it names the child, so a log reader labels a
# stream without API calls (backends/aws/logs.py, backends/local/backend.py).
LABEL_LINE = re.compile(r"^batchmap-task: index=(\d+) attempt=(\d+)")
EXIT_RUNTIME_ERROR = 70  # sysexits EX_SOFTWARE: the child itself failed
EXIT_NOT_EXECUTABLE = 126  # as a shell says
EXIT_NOT_FOUND = 127
# The variables of a command run as it is (see the module docstring); batchmap sets them.
AS_IS = "BATCHMAP_AS_IS"
INDEX_MARK = "{{batchmap.index}}"  # filled with the child's original index
INDEX_MAP = "BATCHMAP_INDEX_MAP"  # a relaunch: position -> original index, INDEX_ENTRY each
INDEX_OWN_VAR = "BATCHMAP_INDEX_VAR"  # set to the original index, named by ..._INDEX_VAR_NAME
ATTEMPT_VAR = "BATCHMAP_ATTEMPT_VAR"  # set to the 0-based attempt
FLYTE_OUTCOME = "BATCHMAP_FLYTE_OUTCOME"  # Propeller's rule: array, task or task-outputs
FLYTE_OUTPUTS = "BATCHMAP_FLYTE_OUTPUTS"  # the child's output prefix, with INDEX_MARK


class RuntimeFailure(Exception):
    """The child could not be prepared or its output stored (inputs unreadable, bad index…)."""


class Signalled(BaseException):
    """SIGTERM or SIGINT arrived before the command started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# --- the index ---------------------------------------------------------------------------


def child_index(env: Mapping[str, str]) -> int:
    """flytekit's rule: the offset plus the value of the variable the index variable names."""
    try:
        offset = int(env.get("BATCH_JOB_ARRAY_INDEX_OFFSET") or 0)
    except ValueError:
        offset_text = env["BATCH_JOB_ARRAY_INDEX_OFFSET"]
        raise RuntimeFailure(
            f"BATCH_JOB_ARRAY_INDEX_OFFSET={offset_text!r} is not an integer"
        ) from None
    var = env.get("BATCH_JOB_ARRAY_INDEX_VAR_NAME")
    if not var:
        return offset
    if var not in env:
        raise RuntimeFailure(f"{var} is not set (named by BATCH_JOB_ARRAY_INDEX_VAR_NAME)")
    try:
        return offset + int(env[var])
    except ValueError:
        raise RuntimeFailure(f"{var}={env[var]!r} is not an integer") from None


# --- reading and writing file:// and s3:// -------------------------------------------------


def _file_path(uri: str) -> str:
    """The path of ``file:///p%20q`` or ``file://localhost/p`` (urllib.parse is not imported
    for it: a child on local files starts a few milliseconds sooner)."""
    path = uri[len("file://") :]
    path = path[path.find("/") :] if not path.startswith("/") else path
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), path.encode())
    return raw.decode("utf-8", "surrogateescape")


def local_path(uri: str) -> str | None:
    """The path of a file:// URI or of a plain absolute path (the local store's locations)."""
    if uri.startswith("file://"):
        return _file_path(uri)
    return uri if uri.startswith("/") else None


def _s3_parts(uri: str) -> tuple[str, str]:
    """Bucket and key of ``s3://bucket/key``; the key is taken as written (not URL-decoded)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise RuntimeFailure(f"{uri!r} is not an s3://BUCKET/KEY URI")
    return bucket, key


class Store:
    """file:// and s3:// objects for one child (one S3 client, one credential lookup)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self._s3: S3 | None = None

    def s3(self) -> S3:
        if self._s3 is None:
            self._s3 = S3(self.env)
        return self._s3

    def read(self, uri: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of an object (the whole object without a range)."""
        path = local_path(uri)
        if path is not None:
            try:
                with open(path, "rb") as handle:
                    if start is None:
                        return handle.read()
                    handle.seek(start)
                    return handle.read((end or start) - start)
            except OSError as exc:
                raise RuntimeFailure(f"cannot read {uri}: {exc.strerror or exc}") from None
        if uri.startswith("s3://"):
            bucket, key = _s3_parts(uri)
            try:
                return self.s3().get(bucket, key, start, end)
            except RuntimeFailure as exc:
                raise RuntimeFailure(f"cannot read {uri}: {exc}") from None
        raise RuntimeFailure(f"unsupported URI {uri!r}: expected file:// or s3://")

    def stat(self, uri: str) -> str | None:
        """A token that changes when the object is written again (its ETag on S3), or None
        when there is no such object."""
        path = local_path(uri)
        if path is not None:
            try:
                info = os.stat(path)
            except FileNotFoundError:
                return None
            return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"
        try:
            return self.s3().head(*_s3_parts(uri))
        except RuntimeFailure as exc:
            raise RuntimeFailure(f"cannot read {uri}: {exc}") from None

    def write(self, uri: str, data: bytes) -> None:
        if uri.startswith("file://"):
            path = _file_path(uri)
            tmp = os.path.join(
                os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp"
            )
            try:
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private
                with open(fd, "wb") as handle:
                    os.fchmod(fd, 0o600)
                    handle.write(data)
                os.replace(tmp, path)
            except OSError as exc:
                raise RuntimeFailure(f"cannot write {uri}: {exc.strerror or exc}") from None
            finally:
                if os.path.exists(tmp):  # after a failed write (a full disk): no temp left
                    os.unlink(tmp)
        elif uri.startswith("s3://"):
            bucket, key = _s3_parts(uri)
            try:
                self.s3().put(bucket, key, data)
            except RuntimeFailure as exc:
                raise RuntimeFailure(f"cannot write {uri}: {exc}") from None
        else:
            raise RuntimeFailure(f"unsupported URI {uri!r}: expected file:// or s3://")


def sibling(uri: str, name: str) -> str:
    """``name`` next to ``uri``; an absolute URI (a relaunch reads its root's items) as is."""
    if "://" in name:
        return name
    return uri.rsplit("/", 1)[0] + "/" + name


def load_item(
    inputs_uri: str, position: int, env: Mapping[str, str] | None = None, store: Store | None = None
) -> tuple[Any, dict[str, Any], int, int]:
    """(item, broadcast inputs, size, index) of the child at ``position``: three small reads
    at any size, four for a relaunch, whose index map gives each position its original
    index (so items, ``{{ index }}`` and outputs stay those of the original execution)."""
    store = store or Store(os.environ if env is None else env)
    try:
        meta = json.loads(store.read(inputs_uri))
        size = int(meta["size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeFailure(f"{inputs_uri} is not batchmap's staged inputs: {exc}") from None
    if not 0 <= position < size:
        raise RuntimeFailure(f"index {position} is outside the map's 0..{size - 1}")
    index = position
    if meta.get("indexMap"):
        raw = store.read(
            sibling(inputs_uri, meta["indexMap"]),
            position * INDEX_ENTRY.size,
            (position + 1) * INDEX_ENTRY.size,
        )
        index = _entry(raw, 0, meta["indexMap"])
    raw = store.read(
        sibling(inputs_uri, meta["index"]),
        index * INDEX_ENTRY.size,
        (index + 2) * INDEX_ENTRY.size,
    )
    start, end = _entry(raw, 0, meta["index"]), _entry(raw, 1, meta["index"])
    data = store.read(sibling(inputs_uri, meta["items"]), start, end) if start < end else b""
    if len(data) != end - start or not data:
        raise RuntimeFailure(f"the staged inputs are damaged: item {index} of {meta['items']}")
    try:
        item = json.loads(data)
    except ValueError as exc:
        raise RuntimeFailure(f"item {index} of {meta['items']} is not JSON: {exc}") from None
    return item, meta.get("broadcast", {}), size, index


def _entry(raw: bytes, n: int, name: str) -> int:
    if len(raw) < (n + 1) * INDEX_ENTRY.size:
        raise RuntimeFailure(f"{name} is shorter than the map: the staged inputs are incomplete")
    return int(INDEX_ENTRY.unpack_from(raw, n * INDEX_ENTRY.size)[0])


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


# --- one child ----------------------------------------------------------------------------


class Prepared:
    """A child ready to start: its command, environment and output file."""

    def __init__(
        self,
        index: int,
        attempt: str,
        size: int,
        command: list[str],
        env: dict[str, str],
        workdir: str,
        store: Store,
        output: str,
    ) -> None:
        self.index = index
        self.attempt = attempt
        self.size = size
        self.command = command
        self.env = env
        self.workdir = workdir  # removed after the command: the runtime made it
        self.output = output
        self.store = store
        self.start_error = ""
        self.as_is = False
        self.before: str | None = None  # a command run as is: its error.pb before it ran
        self.message = ""  # a line to print once it ends (why it failed after all)

    def first_line(self) -> str:
        return label_line(
            self.index, self.attempt, self.size, self.env.get("BATCHMAP_EXECUTION", "")
        )


def label_line(index: int, attempt: object, size: int, execution: str) -> str:
    """The label line (LABEL_LINE reads it back)."""
    return f"{LABEL}: index={index} attempt={attempt} size={size} execution={execution}"


def prepare(
    argv: Sequence[str], env: Mapping[str, str], store: Store | None = None, scratch: str = ""
) -> Prepared:
    """Everything before the command starts: index, item, argv, environment. A caller
    that runs many children (the local supervisor) passes its ``store`` and a private
    ``scratch`` folder for their output files, so no child makes a folder of its own."""
    if env.get(AS_IS) == "1":
        return prepare_as_is(argv, env, store)
    position = child_index(env)
    inputs_uri = env.get("BATCHMAP_INPUTS")
    if not inputs_uri:
        raise RuntimeFailure("BATCHMAP_INPUTS is not set")
    store = store or Store(env)
    item, broadcast, size, index = load_item(inputs_uri, position, store=store)
    command = render(argv, item, broadcast, index)
    attempt = env.get("AWS_BATCH_JOB_ATTEMPT", "1")
    workdir = "" if scratch else _workdir(env)
    output = os.path.join(scratch or workdir, f"{index}.{attempt}.json")
    child_env = dict(env)
    child_env.update(
        {
            "BATCHMAP_INDEX": str(index),
            "BATCHMAP_ITEM": json.dumps(item, ensure_ascii=False),
            "BATCHMAP_OUTPUT": output,
        }
    )
    return Prepared(index, attempt, size, command, child_env, workdir, store, output)


def prepare_as_is(
    argv: Sequence[str], env: Mapping[str, str], store: Store | None = None
) -> Prepared:
    """A command run as it is. Its index is the original one — a relaunch's position goes
    through the index map — and reaches it by flytekit's rule: in ``BATCHMAP_INDEX_VAR``'s
    variable, named by BATCH_JOB_ARRAY_INDEX_VAR_NAME (Propeller's FLYTE_K8S_ARRAY_INDEX for
    an ArrayNode's children), else through BATCH_JOB_ARRAY_INDEX_OFFSET."""
    position = child_index(env)
    store = store or Store(env)
    index = position
    index_map = env.get(INDEX_MAP)
    if index_map:
        size = INDEX_ENTRY.size
        index = _entry(store.read(index_map, position * size, (position + 1) * size), 0, index_map)
    attempt = env.get("AWS_BATCH_JOB_ATTEMPT") or "1"  # AWS's, 1-based
    child_env = dict(env)
    own = env.get(INDEX_OWN_VAR)
    if own:
        child_env.update({own: str(index), "BATCH_JOB_ARRAY_INDEX_VAR_NAME": own})
        child_env.pop("BATCH_JOB_ARRAY_INDEX_OFFSET", None)
    elif index != position:
        offset = int(env.get("BATCH_JOB_ARRAY_INDEX_OFFSET") or 0)
        child_env["BATCH_JOB_ARRAY_INDEX_OFFSET"] = str(offset + index - position)
    if env.get(ATTEMPT_VAR):
        child_env[env[ATTEMPT_VAR]] = str(int(attempt) - 1)
    command = [arg.replace(INDEX_MARK, str(index)) for arg in argv]
    size = int(env.get("BATCHMAP_ARRAY_SIZE") or 0)
    prepared = Prepared(index, attempt, size, command, child_env, "", store, os.devnull)
    prepared.as_is = True
    if env.get(FLYTE_OUTCOME, "array") != "array" and attempt != "1" and env.get(FLYTE_OUTPUTS):
        # The attempts share one prefix: an error.pb already there is an earlier attempt's.
        prepared.before = store.stat(_outputs(prepared) + "/error.pb")
    return prepared


def _outputs(prepared: Prepared) -> str:
    return prepared.env[FLYTE_OUTPUTS].replace(INDEX_MARK, str(prepared.index)).rstrip("/")


def flyte_outcome(prepared: Prepared, code: int) -> int:
    """The exit code of a command run as is, after Propeller's test of what flytekit left
    (flytekit can write error.pb and exit 0, e.g. without FLYTE_FAIL_ON_ERROR):

    - ``array`` (the aws_array plugin, array/subtask_phase.go): an error.pb without an
      outputs.pb fails the child;
    - ``task`` (an ArrayNode's task node, task/handler.go ValidateOutput): an error.pb this
      attempt wrote fails it; ``task-outputs`` (a task that declares outputs): so does a
      missing outputs.pb (OutputsNotFound).

    1 when it fails (flytekit's own exit code then), with ``prepared.message`` saying why."""
    rule = prepared.env.get(FLYTE_OUTCOME)
    if code or not rule or not prepared.env.get(FLYTE_OUTPUTS):
        return code
    prefix, stat = _outputs(prepared), prepared.store.stat
    why = ""
    try:
        error = stat(prefix + "/error.pb")
        if rule == "array":
            failed = error is not None and stat(prefix + "/outputs.pb") is None
        else:
            failed = error is not None and error != prepared.before
        if failed:
            why = f"flytekit left {prefix}/error.pb"
        elif rule == "task-outputs" and stat(prefix + "/outputs.pb") is None:
            why = f"flytekit wrote no {prefix}/outputs.pb"
    except (RuntimeFailure, OSError) as exc:
        prepared.message = f"warning: cannot tell whether flytekit left an error.pb: {exc}"
    if why:
        prepared.message = f"error: {why}: the child failed, as Propeller counts it"
        return 1
    return code


def _workdir(env: Mapping[str, str]) -> str:
    """A private directory for the command's output file, as tempfile.mkdtemp makes it
    (without importing tempfile, random and shutil at every child's start)."""
    base = env.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(base, f"batchmap-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RuntimeFailure(f"cannot create a directory in {base}: {exc}") from None
    raise RuntimeFailure(f"cannot create a directory in {base}")


def _remove(workdir: str) -> None:
    try:
        with os.scandir(workdir) as entries:
            for entry in entries:
                os.unlink(entry.path)
        os.rmdir(workdir)
    except OSError:  # the command left more than a file there
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


MAX_OUTPUT_BYTES = 256 << 20  # far above any JSON a child writes; below running out of memory


def read_output(path: str) -> bytes:
    """What the command wrote to ``$BATCHMAP_OUTPUT``: a regular file, never read through a
    symlink (a command cannot publish /etc/shadow through it), and of a bounded size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return b""
    except OSError as exc:  # ELOOP: a symlink
        raise RuntimeFailure(f"$BATCHMAP_OUTPUT is not a regular file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, a FIFO, a device
        os.close(fd)
        raise RuntimeFailure("$BATCHMAP_OUTPUT is not a regular file")
    with open(fd, "rb") as handle:
        data = handle.read(MAX_OUTPUT_BYTES + 1)
    if len(data) > MAX_OUTPUT_BYTES:
        raise RuntimeFailure(f"$BATCHMAP_OUTPUT is over {MAX_OUTPUT_BYTES >> 20} MiB")
    return data


def store_output(prepared: Prepared, prefix: str) -> bool:
    """Copy what the command wrote to $BATCHMAP_OUTPUT to PREFIX/INDEX.json (JSON as is,
    other text as a JSON string). False when the command wrote nothing."""
    raw = read_output(prepared.output)
    if not raw:
        return False
    try:
        json.loads(raw)
        data = raw
    except ValueError:
        data = json.dumps(raw.decode("utf-8", "replace").rstrip("\n")).encode()
    prepared.store.write(f"{prefix.rstrip('/')}/{prepared.index}.json", data)
    return True


def finish(prepared: Prepared, code: int) -> int:
    """After the command: keep its output when it succeeded, and clean up. The child's exit
    code: the command's, unless what a command run as is left says it failed."""
    try:
        if prepared.as_is:
            return flyte_outcome(prepared, code)
        prefix = prepared.env.get("BATCHMAP_OUTPUT_PREFIX")
        if code == 0 and prefix:
            store_output(prepared, prefix)
        return code
    finally:
        if prepared.workdir:
            _remove(prepared.workdir)
        elif not prepared.as_is:  # in the caller's scratch folder
            with contextlib.suppress(OSError):
                os.unlink(prepared.output)


def start(prepared: Prepared, **popen: Any) -> subprocess.Popen[bytes] | int:
    """Start the command; an int is the exit code a shell would give when it cannot start
    (``prepared.start_error`` says why)."""
    try:
        return subprocess.Popen(prepared.command, env=prepared.env, **popen)
    except FileNotFoundError:
        prepared.start_error = f"command not found: {prepared.command[0]}"
        return EXIT_NOT_FOUND
    except OSError as exc:  # permission, exec format, argument list too long
        prepared.start_error = f"cannot execute {prepared.command[0]}: {exc.strerror or exc}"
        return EXIT_NOT_EXECUTABLE


def exit_status(code: int) -> int:
    """A signal death (-N) as a shell reports it (128 + N)."""
    return code if code >= 0 else 128 - code


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run one child; return its exit code."""
    process: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: Any) -> None:
        if not process:
            raise Signalled(signum)
        process[0].send_signal(signum)

    # Installed first: as PID 1 of a container, a signal without a handler is ignored.
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        prepared = prepare(argv, env)
        code = EXIT_RUNTIME_ERROR
        try:
            print(prepared.first_line(), flush=True)
            started = start(prepared)
            if isinstance(started, int):
                print(f"{LABEL}: {prepared.start_error}", file=sys.stderr, flush=True)
                code = started
            else:
                process.append(started)
                code = exit_status(started.wait())
        finally:
            code = finish(prepared, code)
        if prepared.message:
            print(f"{LABEL}: {prepared.message}", file=sys.stderr, flush=True)
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print(f"usage: {LABEL} -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        return run(args, os.environ)
    except RuntimeFailure as exc:
        message = str(exc)
    except Signalled as exc:
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug here must still end in one line, never a traceback
        message = f"internal error: {type(exc).__name__}: {exc}"
    message = " ".join(message.split())
    print(f"{LABEL}: error: {message}", file=sys.stderr, flush=True)
    return EXIT_RUNTIME_ERROR


# --- S3 without botocore ------------------------------------------------------------------

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# Headers SigV4 never signs (botocore's SIGNED_HEADERS_BLACKLIST).
UNSIGNED_HEADERS = frozenset(
    [
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    ]
)
THROTTLING = frozenset(
    [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "RequestThrottled",
        "PriorRequestNotComplete",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
    ]
)
S3_TIMEOUT = 60.0
BACKOFF_BASE = 0.2  # seconds; full jitter, doubled each attempt
BACKOFF_CAP = 10.0
REFRESH_BEFORE = 300  # seconds before expiry at which credentials are fetched again
ECS_CREDENTIALS_HOST = "http://169.254.170.2"
ALLOWED_CREDENTIAL_HOSTS = ("169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost")
IMDS = "http://169.254.169.254/"
IMDS_IPV6 = "http://[fd00:ec2::254]/"


class Credentials:
    def __init__(
        self,
        access_key: str,
        secret_key: str,
        token: str | None = None,
        expiry: float | None = None,
        source: str = "",
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token or None
        self.expiry = expiry
        self.source = source


def _host_header(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str = "s3",
    now: float | None = None,
) -> dict[str, str]:
    """``headers`` plus SigV4's X-Amz-Date, X-Amz-Content-SHA256, X-Amz-Security-Token and
    Authorization, as botocore's S3SigV4Auth computes them (the URL's path is the
    canonical URI as it is: S3 keys are URI-encoded once, by the caller)."""
    import hashlib
    import hmac
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    out = dict(headers)
    out["X-Amz-Date"] = stamp
    out["X-Amz-Content-SHA256"] = payload
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    signed = {}
    for name, value in out.items():
        if name.lower() not in UNSIGNED_HEADERS:
            signed[name.lower()] = " ".join(str(value).split())
    signed.setdefault("host", _host_header(url))
    names = sorted(signed)
    # botocore's order: (name, value) pairs, sorted as pairs
    pairs = sorted(p.partition("=")[::2] for p in parts.query.split("&")) if parts.query else []
    canonical = "\n".join(
        [
            method.upper(),
            parts.path or "/",
            "&".join(f"{name}={value}" for name, value in pairs),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload,
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{digest}"
    key = ("AWS4" + credentials.secret_key).encode("utf-8")
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _http(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    pool: dict[Any, Any] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP exchange: (status, lower-cased headers, body). Connection errors raise
    OSError or http.client.HTTPException; ``pool`` keeps connections alive between calls."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    where = (parts.scheme, parts.hostname, parts.port)
    conn = pool.pop(where, None) if pool is not None else None
    if conn is None:
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        conn = kind(parts.hostname or "", port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.request(method, target, body=body, headers=dict(headers))
        response = conn.getresponse()
        data = response.read()
    except BaseException:
        conn.close()
        raise
    if pool is not None and not response.will_close:
        pool[where] = conn
    else:
        conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _backoff(attempt: int) -> float:
    jitter = int.from_bytes(os.urandom(2), "big") / 65536.0
    return jitter * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)


def _error_of(body: bytes) -> tuple[str, str]:
    """(Code, Message) of an AWS XML error body."""
    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    return (code.group(1) if code else "", message.group(1) if message else "")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


class S3:
    """GET (with Range) and PUT of S3 objects, SigV4-signed with the container's credentials."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = None
        if not _truthy(env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")):
            endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        try:
            self.attempts = max(1, int(env.get("AWS_MAX_ATTEMPTS") or 5))
        except ValueError:
            raise RuntimeFailure(
                f"AWS_MAX_ATTEMPTS={env['AWS_MAX_ATTEMPTS']!r} is not an integer"
            ) from None
        self._credentials: Credentials | None = None
        self._pool: dict[Any, Any] = {}

    def url(self, bucket: str, key: str) -> str:
        """Path-style at a configured endpoint and for bucket names with dots (their TLS
        certificate would not match), virtual-hosted otherwise, as the SDKs do."""
        from urllib.parse import quote

        path = "/" + quote(key, safe="/~")
        if self.endpoint:
            return f"{self.endpoint}/{bucket}{path}"
        domain = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        if "." in bucket or not re.match(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", bucket):
            return f"https://s3.{self.region}.{domain}/{bucket}{path}"
        return f"https://{bucket}.s3.{self.region}.{domain}{path}"

    def credentials(self) -> Credentials:
        creds = self._credentials
        if creds is None or (
            creds.expiry is not None and creds.expiry - time.time() < REFRESH_BEFORE
        ):
            self._credentials = creds = resolve_credentials(self.env)
        return creds

    def get(self, bucket: str, key: str, start: int | None = None, end: int | None = None) -> bytes:
        headers = {}
        if start is not None:
            if (end or start) <= start:
                return b""
            headers["Range"] = f"bytes={start}-{(end or start) - 1}"
        return self._send("GET", bucket, key, headers, b"")[1]

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self._send("PUT", bucket, key, {"Content-Type": "application/json"}, data)

    def head(self, bucket: str, key: str) -> str | None:
        """The object's ETag, or None when it does not exist (S3 says 403 instead of 404 to
        a role without s3:ListBucket on the bucket)."""
        found = self._send("HEAD", bucket, key, {}, b"", missing_ok=True)
        return None if found is None else found[0].get("etag", "")

    def _send(
        self,
        method: str,
        bucket: str,
        key: str,
        headers: Mapping[str, str],
        body: bytes,
        missing_ok: bool = False,
    ) -> Any:
        """(answer headers, body); None for a missing object when ``missing_ok``."""
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(_backoff(attempt - 1))
            url = self.url(bucket, key)
            request = sign(method, url, headers, body, self.credentials(), self.region)
            request["Host"] = _host_header(url)
            try:
                status, answer, data = _http(
                    method, url, request, body or None, S3_TIMEOUT, self._pool
                )
            except OSError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise RuntimeFailure(
                        f"{exc}: the image has no CA certificates (install ca-certificates)"
                    ) from None
                problem = f"{type(exc).__name__}: {exc}"
                continue
            except Exception as exc:  # http.client.HTTPException: the connection broke
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if status < 300:
                return answer, data
            if status == 404 and missing_ok:
                return None
            code, message = _error_of(data)
            problem = f"{code or 'error'}: {message or 'no message'} (HTTP {status})"
            region = answer.get("x-amz-bucket-region")
            if region and region != self.region:
                self.region = region  # the bucket lives elsewhere: sign for its region
                continue
            if code in ("ExpiredToken", "TokenRefreshRequired", "InvalidToken"):
                self._credentials = None
                continue
            if status >= 500 or status == 429 or code in THROTTLING:
                continue
            raise RuntimeFailure(problem)
        raise RuntimeFailure(f"{problem}, after {self.attempts} attempts")


# --- credentials, in the AWS SDKs' order ---------------------------------------------------


def resolve_credentials(env: Mapping[str, str]) -> Credentials:
    """The environment's keys, else a web identity (EKS IRSA), else the container endpoint
    (ECS task role, EKS Pod Identity), else EC2 instance metadata."""
    for provider in (_from_env, _from_web_identity, _from_container, _from_imds):
        creds = provider(env)
        if creds is not None:
            return creds
    raise RuntimeFailure(
        "no AWS credentials: give the job a role (jobRoleArn: the container gets "
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or run on EC2 with an instance profile"
    )


def _from_env(env: Mapping[str, str]) -> Credentials | None:
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not access and not secret:
        return None
    if not access or not secret:
        missing = "AWS_SECRET_ACCESS_KEY" if access else "AWS_ACCESS_KEY_ID"
        raise RuntimeFailure(f"partial credentials in the environment: {missing} is not set")
    token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN")
    return Credentials(access, secret, token, None, "environment")


def _from_web_identity(env: Mapping[str, str]) -> Credentials | None:
    """AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (EKS roles for service accounts): STS
    AssumeRoleWithWebIdentity, an unsigned call, at the regional STS endpoint."""
    token_file, role = env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), env.get("AWS_ROLE_ARN")
    if not token_file or not role:
        return None
    from urllib.parse import urlencode

    try:
        with open(token_file) as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot read AWS_WEB_IDENTITY_TOKEN_FILE {token_file}: {exc.strerror or exc}"
        ) from None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = None
    if not _truthy(env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")):
        endpoint = env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    url = (endpoint.rstrip("/") if endpoint else f"https://sts.{region}.{domain}") + "/"
    body = urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role,
            "RoleSessionName": env.get("AWS_ROLE_SESSION_NAME") or f"batchmap-{int(time.time())}",
            "WebIdentityToken": token,
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": _host_header(url)}
    what = f"STS (AssumeRoleWithWebIdentity {role})"
    text = _exchange("POST", url, headers, body, 10.0, 3, what).decode("utf-8", "replace")
    values = {}
    for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"):
        match = re.search(f"<{name}>([^<]*)</{name}>", text)
        if not match:
            raise RuntimeFailure(f"cannot get credentials from {what}: no {name}")
        values[name] = match.group(1)
    return Credentials(
        values["AccessKeyId"],
        values["SecretAccessKey"],
        values["SessionToken"],
        _expiry(values["Expiration"]),
        "web identity",
    )


def _expiry(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 UTC time such as 2026-11-24T12:00:00Z."""
    if not text:
        return None
    import calendar

    match = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)", text)
    if not match:
        return None
    return float(calendar.timegm([int(g) for g in match.groups()] + [0, 0, 0]))


def _credentials_from(data: Any, source: str) -> Credentials:
    try:
        return Credentials(
            data["AccessKeyId"],
            data["SecretAccessKey"],
            data.get("Token"),
            _expiry(data.get("Expiration")),
            source,
        )
    except (KeyError, TypeError, AttributeError):
        raise RuntimeFailure(f"{source} returned no credentials") from None


def _exchange(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    attempts: int,
    what: str,
) -> bytes:
    """The body of a 200 answer from a credentials service; connection errors, throttling
    and 5xx are retried, a refusal is one line."""
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(_backoff(attempt - 1))
        try:
            status, _, answer = _http(method, url, headers, body, timeout)
        except Exception as exc:  # OSError, http.client.HTTPException
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if status == 200:
            return answer
        code, message = _error_of(answer)
        text = f"{code}: {message}" if code else answer.decode("utf-8", "replace")[:200]
        problem = f"HTTP {status}: {text}"
        if status < 500 and status != 429 and code not in THROTTLING:
            break
    raise RuntimeFailure(f"cannot get credentials from {what}: {problem}")


def _json(answer: bytes, what: str) -> Any:
    try:
        return json.loads(answer)
    except ValueError:
        raise RuntimeFailure(f"cannot get credentials from {what}: not JSON") from None


def _from_container(env: Mapping[str, str]) -> Credentials | None:
    """ECS task roles (RELATIVE_URI), and EKS Pod Identity or others (FULL_URI + token)."""
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if relative:
        url = ECS_CREDENTIALS_HOST + relative
    elif full:
        url = full
        _check_credentials_host(url)
    else:
        return None
    headers = {"Accept": "application/json"}
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    if token_file:
        try:
            with open(token_file) as handle:
                token = handle.read()
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {token_file}: "
                f"{exc.strerror or exc}"
            ) from None
    if token is not None:
        if "\r" in token or "\n" in token:
            raise RuntimeFailure("the container authorization token is not a legal header value")
        headers["Authorization"] = token
    what = "the container credentials endpoint"
    data = _json(_exchange("GET", url, headers, None, 2.0, 3, what), what)
    return _credentials_from(data, "the container credentials endpoint")


def _check_credentials_host(url: str) -> None:
    """As botocore: https anywhere, http only to loopback or the ECS/EKS agent addresses."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" or host in ALLOWED_CREDENTIAL_HOSTS:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise RuntimeFailure(
        f"AWS_CONTAINER_CREDENTIALS_FULL_URI {url}: only https, a loopback address or "
        f"{', '.join(ALLOWED_CREDENTIAL_HOSTS)} are allowed"
    )


def _from_imds(env: Mapping[str, str]) -> Credentials | None:
    """EC2 instance metadata, IMDSv2 (a session token first), as botocore configures it."""
    if _truthy(env.get("AWS_EC2_METADATA_DISABLED")):
        return None
    base = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    if not base:
        ipv6 = (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") or "").lower() == "ipv6"
        base = IMDS_IPV6 if ipv6 else IMDS
    base = base.rstrip("/") + "/"
    try:
        timeout = float(env.get("AWS_METADATA_SERVICE_TIMEOUT") or 1)
        attempts = max(1, int(env.get("AWS_METADATA_SERVICE_NUM_ATTEMPTS") or 1))
    except ValueError:
        raise RuntimeFailure("AWS_METADATA_SERVICE_TIMEOUT/NUM_ATTEMPTS must be numbers") from None
    try:
        status, _, body = _http(
            "PUT",
            base + "latest/api/token",
            {"x-aws-ec2-metadata-token-ttl-seconds": "21600"},
            b"",
            timeout,
        )
    except Exception:  # no instance metadata here (not EC2, or blocked): the chain ends
        return None
    headers = {}
    if status == 200:
        headers["x-aws-ec2-metadata-token"] = body.decode("ascii", "replace").strip()
    elif status not in (403, 404, 405) or _truthy(env.get("AWS_EC2_METADATA_V1_DISABLED")):
        raise RuntimeFailure(f"EC2 instance metadata refused a session token (HTTP {status})")
    path = base + "latest/meta-data/iam/security-credentials/"
    problem = ""
    for _ in range(attempts):
        try:
            status, _, body = _http("GET", path, headers, None, timeout)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if status == 404:
            raise RuntimeFailure("this EC2 instance has no instance profile (IAM role)")
        if status == 200 and body.strip():
            break
        problem = f"HTTP {status}"
    else:
        raise RuntimeFailure(f"cannot get credentials from EC2 instance metadata: {problem}")
    role = body.decode("utf-8", "replace").strip().splitlines()[0]
    what = "EC2 instance metadata"
    data = _json(_exchange("GET", path + role, headers, None, timeout, attempts, what), what)
    if isinstance(data, dict) and data.get("Code", "Success") != "Success":
        raise RuntimeFailure(f"EC2 instance metadata: {data.get('Message') or data['Code']}")
    return _credentials_from(data, "EC2 instance metadata")


if __name__ == "__main__":
    sys.exit(main())
