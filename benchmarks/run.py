"""batchmap against its anchors, side by side: every row is a ratio from paired runs.

    python benchmarks/run.py            # every row of issue 21's table (about 10 minutes)
    python benchmarks/run.py --quick    # smaller sizes, 3 runs: a fast look (about 2 minutes)
    python benchmarks/run.py --only help,aws
    python benchmarks/run.py --only items       # items at scale (benchmarks/items.py)

Each row runs batchmap and its anchor (a bare typer app, boto3 scripts, ``xargs -P 2``;
see anchors.py) in turns, as separate processes, and prints min and median of both and of
their per-pair ratios. The machine may be shared and loaded: paired, interleaved runs keep
the ratios honest where absolute seconds are not. AWS rows run against moto's
ThreadedMotoServer on 127.0.0.1, which also counts every call and byte (motoserver.py);
moto's timings are not AWS's. Peak memory comes from separate runs (the process's max
RSS), never from a timed one. These are measurements, not tests: nothing fails a build.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import anchors, motoserver  # noqa: E402

# The benchmark's own boto3 calls (setting the account up) go to moto, with fake keys.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
os.environ.setdefault("AWS_DEFAULT_REGION", motoserver.REGION)

PYTHON = sys.executable
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
# What the installed `batchmap` console script runs (pyproject's [project.scripts]).
ENTRY = "from batchmap.cli.entry import run\nrun()\n"  # what the console script runs


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float  # the process's own CPU (user + system), not its children's
    stdout: str


def run(argv: Sequence[str], *, env: dict[str, str], cwd: Path, stdin: Path | None = None) -> Run:
    """Run a process; its wall time and its own CPU.

    Its own CPU is read from /proc while it is a zombie (waitid WNOWAIT), before it is
    reaped: what its threads used, without the children it started.
    """
    with (stdin or Path(os.devnull)).open("rb") as feed:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), env=env, cwd=cwd, stdin=feed, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=lambda: out.append(process.stdout.read())),  # type: ignore[union-attr]
            threading.Thread(target=lambda: err.append(process.stderr.read())),  # type: ignore[union-attr]
        ]
        for reader in readers:
            reader.start()
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        seconds = time.perf_counter() - started
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime, stime
        _, status = os.waitpid(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        for reader in readers:
            reader.join()
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {process.returncode}: {b''.join(err).decode()[-2000:]}"
        )
    return Run(seconds, cpu, b"".join(out).decode())


@dataclass
class Row:
    figure: str
    goal: float | None
    ours: list[float] = field(default_factory=list)
    anchor: list[float] = field(default_factory=list)
    unit: str = "s"
    note: str = ""

    @property
    def ratios(self) -> list[float]:
        if not self.anchor:  # a figure measured alone, with no anchor
            return []
        return [o / a for o, a in zip(self.ours, self.anchor, strict=True) if a]

    def holds(self) -> str:
        if self.goal is None or not self.ratios:
            return ""
        return "yes" if statistics.median(self.ratios) <= self.goal else "NO"


def _pair(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    low, mid = min(values), statistics.median(values)
    if unit == "s":
        return f"{low:.3f} / {mid:.3f} s"
    return f"{low:,.{2 if low < 10 else 0}f} / {mid:,.{2 if mid < 10 else 0}f} {unit}"


def paired(row: Row, ours: Callable[[], float], anchor: Callable[[], float], runs: int) -> Row:
    """Alternate which goes first, so a load spike does not always hit the same side."""
    for i in range(runs):
        if i % 2:
            row.ours.append(ours())
            row.anchor.append(anchor())
        else:
            row.anchor.append(anchor())
            row.ours.append(ours())
    print(f"  {row.figure}: median ratio {statistics.median(row.ratios):.2f}", file=sys.stderr)
    return row


def print_rows(rows: list[Row]) -> None:
    header = ("figure", "batchmap min / median", "anchor min / median", "ratio min / median")
    print(f"\n{header[0]:<58} {header[1]:>22} {header[2]:>22} {header[3]:>19} {'goal':>6}  holds")
    for r in rows:
        ratios = r.ratios
        ratio = f"{min(ratios):.2f} / {statistics.median(ratios):.2f}x" if ratios else "-"
        goal = f"<={r.goal:g}x" if r.goal is not None else ""
        print(
            f"{r.figure:<58} {_pair(r.ours, r.unit):>22} {_pair(r.anchor, r.unit):>22} "
            f"{ratio:>19} {goal:>6}  {r.holds()}"
        )
        if r.note:
            print(f"{'':<4}{r.note}")


# --- the environment every run gets --------------------------------------------------------


def base_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BATCHMAP_", "AWS_"))
        and k not in ("PYTHONPATH", "NO_COLOR", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(
        HOME=str(home),
        PYTHONPATH=str(ROOT),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=motoserver.REGION,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        COLUMNS="200",
    )
    home.mkdir(parents=True, exist_ok=True)
    return env


# --- --help ---------------------------------------------------------------------------------


def help_rows(work: Path, runs: int) -> list[Row]:
    from batchmap.cli.app import app

    bare = work / "bare" / "batchmap"  # named so that its usage line reads "batchmap"
    bare.parent.mkdir()
    bare.write_text(anchors.typer_app(app))
    ours = work / "bm.py"
    ours.write_text(ENTRY)
    env = base_env(work / "home-help")
    rows = []
    for args in (["--help"], ["get", "execution", "--help"]):
        a = run([PYTHON, str(bare), *args], env=env, cwd=work)
        b = run([PYTHON, str(ours), *args], env=env, cwd=work)
        same = a.stdout.replace("bare", "batchmap") == b.stdout
        row = Row(
            f"`{' '.join(['batchmap', *args])}` vs a bare typer app, same tree",
            1.3 if args == ["--help"] else None,
            note="" if same else "note: the help texts differ",
        )
        paired(  # a fraction of a second each: three times the pairs
            row,
            lambda args=args: run([PYTHON, str(ours), *args], env=env, cwd=work).seconds,
            lambda args=args: run([PYTHON, str(bare), *args], env=env, cwd=work).seconds,
            3 * runs,
        )
        rows.append(row)
    return rows


# --- AWS commands against moto ----------------------------------------------------------------


@dataclass
class Aws:
    work: Path
    env: dict[str, str]
    traffic: motoserver.Traffic
    account: dict[str, str]

    def batchmap(self, *args: str) -> Run:
        return run([PYTHON, str(self.work / "bm.py"), *args], env=self.env, cwd=self.work)

    def script(self, name: str, *args: str) -> Run:
        return run([PYTHON, str(self.work / name), *args], env=self.env, cwd=self.work)

    def calls(self, action: Callable[[], Any]) -> Counter[str]:
        mark = self.traffic.mark()
        action()
        return self.traffic.since(mark)[0]


def aws_setup(work: Path, endpoint: str, traffic: motoserver.Traffic) -> Aws:
    work.mkdir()
    env = base_env(work / "home")
    env["AWS_ENDPOINT_URL"] = endpoint
    account = motoserver.setup_account(endpoint)
    (work / "bm.py").write_text(ENTRY)
    (work / "batchmap.yaml").write_text(
        "backend: aws\nstorage: s3://bench-bucket/store\nregistry: ./registry\n"
        "queues:\n  executionQueues:\n    - dynamic: q\n      attributes: [default]\n"
        "  workflowConfigs:\n    - tags: [default]\n"
    )
    (work / "lp.yaml").write_text(
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[int]\n"
        "map:\n  over: [xs]\n"
        "task:\n  image: busybox\n  command: [echo, '{{ item }}']\n"
    )
    for name, text in (
        ("naive_status.py", anchors.NAIVE_STATUS),
        ("parent_status.py", anchors.PARENT_STATUS),
        ("by_hand_create.py", anchors.BY_HAND_CREATE),
    ):
        (work / name).write_text(anchors.script(text))
    aws = Aws(work, env, traffic, account)
    aws.batchmap("register", "files", "lp.yaml")
    return aws


def exec_file(aws: Aws, n: int) -> Path:
    path = aws.work / f"exec{n}.yaml"
    if not path.exists():
        path.write_text(
            f"iamRoleARN: {aws.account['role']}\ninputs:\n    xs: {list(range(n))}\n"
            "envs: {}\nversion: v1\nworkflow: lp\n"
        )
    return path


def create(aws: Aws, n: int) -> dict[str, Any]:
    result = aws.batchmap(
        "create", "execution", "-p", "p", "-d", "d", "--execFile", str(exec_file(aws, n)),
        "-o", "json",
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def _calls(counter: Counter[str]) -> str:
    return f"{sum(counter.values())} ({', '.join(f'{k} {v}' for k, v in sorted(counter.items()))})"


def by_hand_definition(aws: Aws) -> str:
    """The job definition the by-hand script submits to (registered once, beforehand)."""
    import boto3

    batch = boto3.client("batch", endpoint_url=aws.env["AWS_ENDPOINT_URL"])
    definition = batch.register_job_definition(
        jobDefinitionName="by-hand",
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["sh", "-c", "echo $AWS_BATCH_JOB_ARRAY_INDEX"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
        },
    )["jobDefinitionArn"]
    return str(definition)


def create_rows(aws: Aws, sizes: list[int], runs: int, definition: str) -> list[Row]:
    rows = []
    for n in sizes:
        path = str(exec_file(aws, n))
        by_hand = ("by_hand_create.py", path, "bench-bucket", "q", definition)
        ours_calls = aws.calls(lambda n=n: create(aws, n))
        anchor_calls = aws.calls(lambda by_hand=by_hand: aws.script(*by_hand))
        row = Row(
            f"`create execution`, {n:,} items vs boto3 by hand",
            1.5,
            note=f"AWS calls: batchmap {_calls(ours_calls)}; by hand {_calls(anchor_calls)}",
        )
        paired(
            row,
            lambda n=n: (
                aws.batchmap(
                    "create",
                    "execution",
                    "-p",
                    "p",
                    "-d",
                    "d",
                    "--execFile",
                    str(exec_file(aws, n)),
                ).seconds
            ),
            lambda by_hand=by_hand: aws.script(*by_hand).seconds,
            runs,
        )
        rows.append(row)
    return rows


def mixed(n: int) -> list[str]:
    """A map part-way: a tenth FAILED, a fifth RUNNING, the rest SUCCEEDED."""
    return [
        "FAILED" if i % 10 == 0 else "RUNNING" if i % 10 in (1, 2) else "SUCCEEDED"
        for i in range(n)
    ]


def grid_calls(aws: Aws, name: str) -> Counter[str]:
    """The AWS calls of the live view's status grid (a status per child, re-read at most
    every 10 s), through the library in this process."""
    from batchmap.api import Batchmap

    bm = Batchmap.open(
        environ=aws.env,
        cwd=aws.work,
        home=Path(aws.env["HOME"]),
        endpoint_url=aws.env["AWS_ENDPOINT_URL"],
    )
    manifest = bm.executions.get("p", "d", name)
    backend = bm.backend("aws")
    counts = backend.counts(manifest)
    return aws.calls(lambda: backend.statuses(manifest, counts))


def status_rows(aws: Aws, sizes: list[int], runs: int) -> list[Row]:
    rows = []
    for n in sizes:
        manifest = create(aws, n)
        name, parent = manifest["name"], manifest["jobs"][0]["jobId"]
        motoserver.set_statuses(parent, mixed(n))
        get = ("get", "execution", "-p", "p", "-d", "d", name)
        ours_calls = aws.calls(lambda get=get: aws.batchmap(*get))
        naive_calls = aws.calls(lambda parent=parent: aws.script("naive_status.py", parent))
        one_calls = aws.calls(lambda parent=parent: aws.script("parent_status.py", parent))
        grid = grid_calls(aws, name)
        naive = Row(
            f"`get execution NAME`, {n:,} children vs naive boto3 (every child)",
            1.0,
            note=f"AWS calls: batchmap {_calls(ours_calls)}; naive {_calls(naive_calls)}; "
            f"the live view's status grid {_calls(grid)}",
        )
        rows.append(
            paired(
                naive,
                lambda get=get: aws.batchmap(*get).seconds,
                lambda parent=parent: aws.script("naive_status.py", parent).seconds,
                runs,
            )
        )
        one = Row(
            f"`get execution NAME`, {n:,} children vs one DescribeJobs (parent)",
            1.5,
            note=f"AWS calls: one DescribeJobs {_calls(one_calls)}",
        )
        rows.append(
            paired(
                one,
                lambda get=get: aws.batchmap(*get).seconds,
                lambda parent=parent: aws.script("parent_status.py", parent).seconds,
                runs,
            )
        )
    return rows


def peak_rss_mb(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float | None:
    """Peak RSS of a process, as GNU time reports it: a process forked from this one
    (which holds moto's jobs) would count this one's memory as its own."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        return None
    done = subprocess.run(
        [gnu_time, "-f", "%M", *argv], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr[-2000:]}")
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def memory_rows(aws: Aws, sizes: list[int], definition: str) -> list[str]:
    """Peak RSS of separate, untimed runs (batchmap's and its anchor's)."""
    lines = []
    for n in sizes:
        path = str(exec_file(aws, n))
        ours = peak_rss_mb(
            [PYTHON, "bm.py", "create", "execution", "-p", "p", "-d", "d", "--execFile", path],
            aws.env,
            aws.work,
        )
        theirs = peak_rss_mb(
            [PYTHON, "by_hand_create.py", path, "bench-bucket", "q", definition], aws.env, aws.work
        )
        if ours is None or theirs is None:
            lines.append("peak memory: GNU time is not installed")
            continue
        lines.append(
            f"peak RSS, `create execution` of {n:,} items: batchmap {ours:.0f} MB, "
            f"boto3 by hand {theirs:.0f} MB (separate, untimed runs)"
        )
    return lines


# --- logs --follow ---------------------------------------------------------------------------


class Driver(threading.Thread):
    """The awslogs driver of running children, as AWS Batch's containers have it: each
    child prints ``rate`` lines a second, and each stream sends what it buffered every
    5 s (docker's batchPublishFrequency), the streams' flushes spread over those 5 s."""

    FLUSH = 5.0

    def __init__(self, streams: list[str], rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.streams = streams
        self.rate = rate
        self.seconds = seconds

    def run(self) -> None:
        start = time.time()
        offsets = [i * self.FLUSH / len(self.streams) for i in range(len(self.streams))]
        sent = [start] * len(self.streams)
        lines = [0] * len(self.streams)
        while True:
            now = time.time()
            for i, stream in enumerate(self.streams):
                due = start + offsets[i]
                while due <= sent[i]:
                    due += self.FLUSH
                if now < due:
                    continue
                batch = []
                t = sent[i]
                while t + 1 / self.rate <= min(now, start + self.seconds):
                    t += 1 / self.rate
                    lines[i] += 1
                    batch.append((int(t * 1000), f"child {i} line {lines[i]}: " + "x" * 60))
                sent[i] = now
                if batch:
                    motoserver.put_lines(stream, batch)
            if now > start + self.seconds + self.FLUSH:
                return
            time.sleep(0.05)


def follow_rows(aws: Aws, seconds: float) -> list[Row]:
    """One follow of a whole execution and one of ten of its children, at once."""
    n = 100
    manifest = create(aws, n)
    name, parent = manifest["name"], manifest["jobs"][0]["jobId"]
    motoserver.set_statuses(parent, ["RUNNING"] * n)
    streams = motoserver.give_streams(parent, n, manifest["logStreamPrefix"])
    driver = Driver(streams, rate=2.0, seconds=seconds)
    follows = {}
    for label, extra in (("all", ()), ("index", ("--index", "0-9"))):
        env = dict(aws.env, AWS_SDK_UA_APP_ID=f"follow-{label}")
        command = [PYTHON, "bm.py", "logs", "-p", "p", "-d", "d", name, "--follow", *extra]
        follows[label] = subprocess.Popen(
            command, env=env, cwd=aws.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    driver.start()
    driver.join()
    time.sleep(2)
    motoserver.set_statuses(parent, ["SUCCEEDED"] * n)
    outputs = {label: p.communicate(timeout=120) for label, p in follows.items()}
    rows = []
    for label, selected in (("all", streams), ("index", streams[:10])):
        calls, sizes = aws.traffic.by_app(f"follow-{label}")
        events, size = motoserver.events_bytes(selected)
        printed = len(outputs[label][0].decode().splitlines())
        ticks = calls.get("batch:describejobs", 0)
        what = "all 100 children" if label == "all" else "--index 0-9"
        log_bytes = sum(v for k, v in sizes.items() if k.startswith("logs:"))
        total = sum(sizes.values())
        by_op = ", ".join(f"{k} {v:,}" for k, v in sorted(sizes.items()))
        row = Row(
            f"`logs --follow` ({what}): log bytes downloaded vs new events' bytes",
            2.0,
            [float(log_bytes)],
            [float(size)],
            unit="B",
            note=f"{printed:,} lines printed of {events:,} events over {seconds:.0f} s; "
            f"AWS calls {_calls(calls)}; bytes {by_op}"
            f" (all of them {total / size:.2f}x the new events'); {total / max(ticks, 1):,.0f} B "
            "per 1 s tick",
        )
        rows.append(row)
    return rows


# --- the local backend -----------------------------------------------------------------------


@dataclass
class Local:
    work: Path
    env: dict[str, str]

    def batchmap(self, lp: str) -> Run:
        return run(
            [PYTHON, str(self.work / "bm.py"), "create", "execution", "-p", "p", "-d", "d",
             "--execFile", f"{lp}.exec.yaml", "--wait"],
            env=self.env, cwd=self.work,
        )  # fmt: skip

    def xargs(self, n: int, *command: str) -> Run:
        items = self.work / f"items{n}"
        if not items.exists():
            items.write_text("".join(f"{i}\n" for i in range(n)))
        return run(
            ["xargs", "-P", "2", "-n", "1", *command], env=self.env, cwd=self.work, stdin=items
        )


def local_setup(work: Path) -> Local:
    work.mkdir()
    env = base_env(work / "home")
    (work / "bm.py").write_text(ENTRY)
    (work / "child.py").write_text("import sys\nprint(sys.argv[1])\n")
    local = Local(work, env)
    return local


def local_plan(local: Local, name: str, n: int, command: list[str]) -> str:
    quoted = ", ".join(json.dumps(c) for c in [*command, "{{ item }}"])
    (local.work / f"{name}.yaml").write_text(
        f"project: p\ndomain: d\nname: {name}\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[int]\n"
        "map:\n  over: [xs]\n  concurrency: 2\n"
        f"task:\n  image: busybox\n  command: [{quoted}]\n"
    )
    (local.work / f"{name}.exec.yaml").write_text(
        f"inputs:\n    xs: {list(range(n))}\nenvs: {{}}\nversion: v1\nworkflow: {name}\n"
    )
    run([PYTHON, "bm.py", "register", "files", f"{name}.yaml"], env=local.env, cwd=local.work)
    return name


def file_probe(folder: Path, count: int = 200) -> float:
    """CPU (ms) this thread spends creating a file the way the supervisor creates an
    attempt's log (open O_CREAT, one line, close), in a new folder of the work tree.

    The figure is the disk's state, not batchmap's: on a journal-less ext4 (this
    machine's), a new inode is not taken from those freed in the last minutes
    (``recently_deleted`` in ext4's ``find_inode_bit``), so within minutes of mass
    deletions near the work folder each file costs several times its usual CPU. Nothing
    is deleted here: that would slow the next files down."""
    folder.mkdir(parents=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    started = time.thread_time()
    for i in range(count):
        fd = os.open(folder / f"{i}.1.log", flags, 0o600)
        os.write(fd, b"batchmap-task: index=0 attempt=1\n")
        os.close(fd)
    return (time.thread_time() - started) / count * 1000


def local_rows(work: Path, sizes: list[int], python_size: int, runs: int) -> list[Row]:
    local = local_setup(work)
    echo = shutil.which("echo") or "/bin/echo"
    small = local_plan(local, "small", 2, [echo])
    rows = []
    cpu_ours: dict[int, list[float]] = {}
    cpu_xargs: dict[int, list[float]] = {}
    probes: list[float] = []
    for n in sizes:
        plan = local_plan(local, f"echo{n}", n, [echo])
        row = Row(f"local, {n:,} `echo` children, concurrency 2, --wait vs xargs -P 2", 1.5)

        def ours(n: int = n, plan: str = plan) -> float:
            probes.append(file_probe(work / "probe" / str(len(probes))))
            fixed = local.batchmap(small).cpu
            result = local.batchmap(plan)
            cpu_ours.setdefault(n, []).append((result.cpu - fixed) / (n - 2) * 1000)
            return result.seconds

        def theirs(n: int = n) -> float:
            result = local.xargs(n, echo)
            cpu_xargs.setdefault(n, []).append(result.cpu / n * 1000)
            return result.seconds

        rows.append(paired(row, ours, theirs, runs))
    for n in sizes:
        rows.append(
            Row(
                f"supervisor CPU per child, {n:,} children vs xargs' own",
                None,
                cpu_ours[n],
                cpu_xargs[n],
                unit="ms",
                note="batchmap: the CLI process's own CPU (its --wait supervisor thread) "
                "less a 2-child run's, per child; xargs: its own CPU per child",
            )
        )
    rows.append(
        Row(
            "creating a file in the work folder (CPU), before each run",
            None,
            probes,
            unit="ms",
            note="each attempt's log is one such file; xargs writes none. Not batchmap's "
            "figure but the disk's state, which moves the two rows above (file_probe)",
        )
    )
    plan = local_plan(local, "python", python_size, [PYTHON, str(local.work / "child.py")])
    row = Row(f"local, {python_size:,} python children vs xargs, same child", 1.2)
    rows.append(
        paired(
            row,
            lambda: local.batchmap(plan).seconds,
            lambda: local.xargs(python_size, PYTHON, str(local.work / "child.py")).seconds,
            runs,
        )
    )
    return rows


# --- main ------------------------------------------------------------------------------------

SECTIONS = ("help", "aws", "logs", "local", "items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 3 runs")
    parser.add_argument("--runs", type=int, default=None, help="paired runs per row (>= 3)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"of {','.join(SECTIONS)}")
    parser.add_argument("--items-only", action="store_true", help="the same as --only items")
    args = parser.parse_args()
    if args.items_only:
        args.only = "items"
    runs = max(3, args.runs or (3 if args.quick else 5))
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="batchmap-bench-"))
    # An installed batchmap runs from bytecode: compile this tree's once, as pip would
    # (with PYTHONDONTWRITEBYTECODE set, every run would otherwise compile every module).
    compileall.compile_dir(ROOT / "batchmap", quiet=1)
    print(f"batchmap benchmarks: {runs} paired runs per row, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    rows: list[Row] = []
    extra: list[str] = []
    server = None
    try:
        # The local rows first: what the other sections write and delete (thousands of
        # files, the items' hundreds of MB) leaves the disk slow to create files for
        # minutes after (How it measures, docs/benchmarks.md), and every local attempt
        # creates its log file.
        if "local" in only:
            sizes = [200] if args.quick else [1_000, 5_000]
            # the local rows are the long ones: 3 pairs each (the minimum) unless --runs says
            local_runs = args.runs or 3
            rows += local_rows(work / "local", sizes, 200 if args.quick else 1_000, local_runs)
        if "help" in only:
            rows += help_rows(work, runs)
        if only & {"aws", "logs", "items"}:
            server, endpoint, traffic = motoserver.start()
            print(
                f"AWS rows: moto's ThreadedMotoServer at {endpoint} (moto's timings are not AWS's)"
            )
            aws = aws_setup(work / "aws", endpoint, traffic)
            if "aws" in only:
                definition = by_hand_definition(aws)
                sizes = [10, 1_000] if args.quick else [10, 1_000, 10_000]
                rows += create_rows(aws, sizes, runs, definition)
                rows += status_rows(aws, [100, 1_000], runs)
                extra += memory_rows(aws, [sizes[-1]], definition)
            if "logs" in only:
                rows += follow_rows(aws, 10.0 if args.quick else 20.0)
            if "items" in only:
                from benchmarks.items import print_items

                print_items(work, args.quick, endpoint)
    finally:
        print_rows(rows)
        for line in extra:
            print(line)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
