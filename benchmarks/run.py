"""batchmap benchmarks: AWS calls, wall time and peak memory, against moto.

    python benchmarks/run.py            # everything (about a minute)
    python benchmarks/run.py --quick    # smaller sizes

Prints, for arrays of 10 to 100,000 children:
- create execution: AWS calls by operation, wall time, peak Python memory;
- get execution (one refresh) and logs --follow (one tick): AWS calls, next to the
  naive approach of describing every child (what `awsbstat -e` does);
- the local backend running 1,000 trivial children, next to `xargs -P <cpus>`
  running the same commands (the process-spawn floor);
- items at scale (`--items-only` runs just this part): 1,000,000 items from a JSONL
  file (`create execution --dryRun`), the same inline in the exec file, 10,000,000
  items read and staged as a stream, a real `create execution` of 1,000,000 items from
  S3 against moto (its AWS calls), and the parse cost next to `json.loads` (the floor).
  Wall time and peak RSS are measured in separate runs of a subprocess (peak RSS from
  ``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process).

moto runs as a separate `moto_server` process on 127.0.0.1, so wall time includes
HTTP to it (as against AWS) and peak memory is batchmap's own. These are
measurements, not tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)


def _start_moto() -> subprocess.Popen[bytes]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [shutil.which("moto_server") or "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        method="POST",
        data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()
    os.environ["AWS_ENDPOINT_URL"] = url
    return server


def _counting_factory(calls: Counter[str]) -> Any:
    from batchmap.aws.clients import ClientFactory

    factory = ClientFactory(region="us-east-1")

    def hook(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    factory.session.events.register("before-call", hook)
    return factory


def _setup_account() -> None:
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="task", AssumeRolePolicyDocument=json.dumps(trust))
    service = iam.create_role(RoleName="svc", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    batch = boto3.client("batch", region_name="us-east-1")
    batch.create_compute_environment(
        computeEnvironmentName="ce1", type="UNMANAGED", state="ENABLED", serviceRole=service
    )
    batch.create_job_queue(
        jobQueueName="q",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce1"}],
    )
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bench-bucket")


def _settings(work: Path) -> Any:
    from batchmap.config.loader import Overrides, resolve

    (work / "batchmap.yaml").write_text(
        "backend: aws\nstorage: s3://bench-bucket/store\nregistry: ./registry\n"
        "queues:\n  executionQueues:\n    - dynamic: q\n      attributes: [default]\n"
        "  workflowConfigs:\n    - tags: [default]\n"
    )
    return resolve(Overrides(), {}, work, work)


def _plan(work: Path, n: int, name: str) -> Any:
    from batchmap.executions import execfile
    from batchmap.launchplans.parse import parse_files

    lp = work / f"{name}.yaml"
    lp.write_text(
        f"project: p\ndomain: d\nname: {name}\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[int]\n"
        "map:\n  over: [xs]\n"
        "task:\n  image: busybox\n  command: [echo, '{{ item }}']\n"
    )
    plan = parse_files([lp])[0]
    exec_file = work / f"{name}.exec.yaml"
    exec_file.write_text(
        execfile.render(plan).replace(
            'iamRoleARN: ""', ("iamRoleARN: arn:aws:iam::123456789012:role/task")
        )
    )
    # write the items as a flow list: a 100,000-line YAML list is slow to read for no reason
    text = exec_file.read_text().split("inputs:")[0] + f"inputs:\n    xs: {list(range(n))}\n"
    exec_file.write_text(text + "envs: {}\nversion: v1\nworkflow: " + name + "\n")
    return plan, exec_file


def bench_create(work: Path, n: int) -> dict[str, Any]:
    from batchmap.backends.aws.backend import AwsBatchBackend
    from batchmap.executions.lifecycle import Executions
    from batchmap.executions.plan import ExecutionRequest
    from batchmap.files.store import LocalStore, open_store
    from batchmap.launchplans.registry import Registry

    config = _settings(work)
    calls: Counter[str] = Counter()
    clients = _counting_factory(calls)
    name = f"c{n}"
    plan, exec_file = _plan(work, n, name)
    registry = Registry(LocalStore(work / "registry"))
    registry.register([plan])
    tracemalloc.start()
    started = time.perf_counter()
    store = open_store(config.storage, clients.client("s3"))
    executions = Executions(store, registry, lambda _: AwsBatchBackend(clients, config))
    request = ExecutionRequest("p", "d", exec_file, name=name, backend="aws")
    executions.submit(executions.plan(request))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"n": n, "seconds": seconds, "peak_mb": peak / 2**20, "calls": dict(calls)}


def bench_status(work: Path, n: int) -> dict[str, Any]:
    from batchmap.backends.aws.backend import AwsBatchBackend
    from batchmap.backends.aws.jobs import describe
    from batchmap.backends.base import ChildQuery, LogCursor, LogQuery
    from batchmap.executions.manifest import load
    from batchmap.files.store import open_store

    config = _settings(work)
    calls: Counter[str] = Counter()
    clients = _counting_factory(calls)
    store = open_store(config.storage, clients.client("s3"))
    manifest = load(store, "p", "d", f"c{n}")
    backend = AwsBatchBackend(clients, config)
    calls.clear()
    backend.counts(manifest)
    backend.children(manifest, ChildQuery(limit=50))
    refresh = sum(calls.values())
    cursor = LogCursor()
    backend.logs(manifest, LogQuery(), cursor)
    calls.clear()
    backend.counts(manifest)
    backend.logs(manifest, LogQuery(), cursor)
    tick = sum(calls.values())
    # The live view's status grid: one status per child, re-read at most every 10 s.
    counts = backend.counts(manifest)
    calls.clear()
    backend.statuses(manifest, counts)
    grid = sum(calls.values())
    # The naive refresh describes every child, 100 at a time (awsbstat -e): ceil(n / 100)
    # DescribeJobs calls, measured on the first 1,000 children and scaled.
    calls.clear()
    ids = [f"{job['jobId']}:{i}" for job in manifest.run["jobs"] for i in range(job["size"])]
    describe(clients.client("batch"), ids[:1000])
    naive = (
        sum(calls.values()) * max(1, len(ids) // 1000) if len(ids) > 1000 else sum(calls.values())
    )
    return {"n": n, "refresh": refresh, "tick": tick, "grid": grid, "naive": naive}


def bench_local(work: Path, n: int) -> dict[str, Any]:
    work = work / "local"
    work.mkdir()
    script = work / "child.py"
    script.write_text("import sys\nprint(sys.argv[1])\n")
    cpus = os.cpu_count() or 1
    started = time.perf_counter()
    subprocess.run(
        f"seq 0 {n - 1} | xargs -P {cpus} -n 1 {sys.executable} {script} > /dev/null",
        shell=True,
        check=True,
    )
    xargs = time.perf_counter() - started
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHMAP_", "AWS_ENDPOINT"))}
    env["HOME"] = str(work / "home")
    lp = work / "local.yaml"
    lp.write_text(
        f"project: p\ndomain: d\nname: local\nversion: v1\n"
        f"inputs:\n  xs:\n    type: list[int]\n    default: {list(range(n))}\n"
        f"map:\n  over: [xs]\n  concurrency: {cpus}\n"
        f"task:\n  image: busybox\n  command: ['{sys.executable}', '{script}', "
        "'{{ item }}']\n"
    )

    def batchmap(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "batchmap", *args],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )

    batchmap("register", "files", str(lp))
    batchmap("get", "launchplan", "-p", "p", "-d", "d", "local", "--execFile", "l.yaml")
    started = time.perf_counter()
    batchmap("create", "execution", "-p", "p", "-d", "d", "--execFile", "l.yaml", "--wait")
    ours = time.perf_counter() - started
    return {"n": n, "batchmap": ours, "xargs": xargs, "ratio": ours / xargs}


# --- items at scale -------------------------------------------------------------------------

ITEMS_LAUNCH_PLAN = (
    "project: p\ndomain: d\nname: items\nversion: v1\n"
    "inputs:\n  xs:\n    type: list[int]\n"
    "map:\n  over: [xs]\n"
    "task:\n  image: busybox\n  command: [echo, '{{ item }}']\n"
)
STAGE_SCRIPT = """
import sys
from pathlib import Path
from batchmap.executions.plan import ExecutionRequest, draft
from batchmap.files.store import LocalStore
from batchmap.launchplans.registry import Registry
from batchmap.tasks.staging import stage
work = Path(sys.argv[1])
request = ExecutionRequest("p", "d", work / sys.argv[2], name=sys.argv[3])
registry = Registry(LocalStore(work / "registry"))
plan = draft(request, registry, backend="local", default_role=None)
stage(LocalStore(work / "store"), plan.prefix, plan.launch_plan, plan.values)
"""


def _items_work(work: Path) -> tuple[Path, dict[str, str]]:
    """A folder with a local config, the launch plan registered, and an env for subprocesses."""
    work = work / "items"
    (work / "home").mkdir(parents=True)
    (work / "batchmap.yaml").write_text(
        f"backend: local\nstorage: {work / 'store'}\nregistry: {work / 'registry'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHMAP_", "AWS_ENDPOINT"))}
    env.update(HOME=str(work / "home"), PYTHONPATH=str(ROOT))
    (work / "lp.yaml").write_text(ITEMS_LAUNCH_PLAN)
    subprocess.run(
        [sys.executable, "-m", "batchmap", "register", "files", "lp.yaml"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work, env


def _jsonl(path: Path, n: int) -> Path:
    with path.open("w") as handle:
        for start in range(0, n, 100_000):
            handle.write("".join(f"{i}\n" for i in range(start, min(n, start + 100_000))))
    return path


def _exec_file(path: Path, xs: str) -> Path:
    path.write_text(f"workflow: items\nversion: v1\ninputs:\n    xs:{xs}")
    return path


def _timed(cmd: list[str], work: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


# Runs a command and prints its peak RSS (KiB) and CPU seconds. A small process in between,
# because Linux counts the RSS a process had before execve in its ru_maxrss: forked from
# this benchmark, the command would report this process's size when it is the larger.
RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
sys.exit(code)
"""


def _rusage(cmd: list[str], work: Path, env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of the command, in a run of its own."""
    result = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, *cmd], cwd=work, env=env, capture_output=True
    )
    if result.returncode:
        raise RuntimeError(f"{cmd} exited {result.returncode}: {result.stderr.decode()}")
    rss, cpu = result.stdout.split()[-2:]
    return int(rss) / 1024, float(cpu)  # ru_maxrss is in KiB on Linux


def _both(cmd: list[str], work: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB): wall time from a run of its own, since
    the CPU time and memory of the other run are not distorted by the machine's load."""
    seconds = _timed(cmd, work, env)
    rss, cpu = _rusage(cmd, work, env)
    return seconds, cpu, rss


def bench_items(work: Path, quick: bool) -> list[tuple[str, float, float, float, str]]:
    """(what, wall seconds, CPU seconds, peak RSS MB, limit) rows, all from this one run."""
    million = 100_000 if quick else 1_000_000
    big = 1_000_000 if quick else 10_000_000
    work, env = _items_work(work)
    batchmap = [sys.executable, "-m", "batchmap"]
    dry = [*batchmap, "create", "execution", "-p", "p", "-d", "d", "--dryRun", "--execFile"]
    rows = []
    _jsonl(work / "m.jsonl", million)
    _exec_file(work / "file.yaml", " {fromFile: m.jsonl}\n")
    what = f"{million:,} items from a JSONL file: create --dryRun"
    rows.append((what, *_both([*dry, "file.yaml"], work, env), "10 s, 200 MB"))
    inline = "".join(f"        - {i}\n" for i in range(million))
    _exec_file(work / "inline.yaml", "\n" + inline)
    what = f"{million:,} items inline in the exec file: create --dryRun"
    rows.append((what, *_both([*dry, "inline.yaml"], work, env), "15 s"))
    stage_cmd = [sys.executable, "-c", STAGE_SCRIPT, str(work)]
    for n in (million, big):
        _jsonl(work / f"s{n}.jsonl", n)
        _exec_file(work / f"s{n}.yaml", f" {{fromFile: s{n}.jsonl}}\n")
        what = f"{n:,} items from a JSONL file: read, check, stage"
        rows.append((what, *_both([*stage_cmd, f"s{n}.yaml", f"s{n}"], work, env), "250 MB"))
        shutil.rmtree(work / "store", ignore_errors=True)
        (work / f"s{n}.jsonl").unlink()
    return rows


def bench_parse(work: Path, quick: bool) -> dict[str, float]:
    """CPU seconds to parse the same integers: json.loads (the floor), the exec file's fast
    YAML, ruamel's safe constructor (what batchmap used before), a JSONL items file. CPU
    time, not wall time: on a shared machine it is the figure that repeats."""
    from batchmap.executions import items
    from batchmap.files import yamldoc
    from batchmap.launchplans.inputs import parse_type

    n = 100_000 if quick else 1_000_000
    work = work / "parse"
    work.mkdir()
    text = json.dumps(list(range(n)))
    yaml_text = "xs:\n" + "".join(f"    - {i}\n" for i in range(n))
    _jsonl(work / "p.jsonl", n)
    out: dict[str, float] = {"n": n}
    for label, call in (
        ("json.loads", lambda: json.loads(text)),
        ("exec file (libyaml events)", lambda: yamldoc.load_document(yaml_text, "x")),
        ("exec file (ruamel safe, before)", lambda: yamldoc._load_with_ruamel(yaml_text, "x")),
        (
            "JSONL items file",
            lambda: items.read(items.file_spec("p.jsonl", work), parse_type("int")),
        ),
    ):
        started = time.process_time()
        call()
        out[label] = time.process_time() - started
    return out


def bench_items_aws(work: Path, quick: bool) -> dict[str, Any]:
    """A real create execution whose items are a JSONL object in S3, against moto_server."""
    import boto3

    from batchmap.backends.aws.backend import AwsBatchBackend
    from batchmap.executions.lifecycle import Executions
    from batchmap.executions.plan import ExecutionRequest
    from batchmap.files.store import LocalStore, open_store
    from batchmap.launchplans.parse import parse_files
    from batchmap.launchplans.registry import Registry

    n = 100_000 if quick else 1_000_000
    work = work / "items-aws"
    work.mkdir()
    config = _settings(work)
    (work / "lp.yaml").write_text(ITEMS_LAUNCH_PLAN)
    registry = Registry(LocalStore(work / "registry"))
    registry.register(parse_files([work / "lp.yaml"]))
    body = _jsonl(work / "n.jsonl", n).read_bytes()
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket="bench-bucket", Key="in/items.jsonl", Body=body
    )
    exec_file = _exec_file(work / "e.yaml", ' {fromFile: "s3://bench-bucket/in/items.jsonl"}\n')
    role = "arn:aws:iam::123456789012:role/task"
    exec_file.write_text(f"iamRoleARN: {role}\n" + exec_file.read_text())
    calls: Counter[str] = Counter()
    clients = _counting_factory(calls)
    started = time.perf_counter()
    store = open_store(config.storage, clients.client("s3"))
    executions = Executions(
        store,
        registry,
        lambda _: AwsBatchBackend(clients, config),
        s3=lambda: clients.client("s3"),
    )
    request = ExecutionRequest("p", "d", exec_file, name="items1m", backend="aws")
    manifest = executions.submit(executions.plan(request))
    seconds = time.perf_counter() - started
    return {"n": n, "arrays": len(manifest.run["jobs"]), "seconds": seconds, "calls": dict(calls)}


def print_items(work: Path, quick: bool) -> None:
    print("\nitems at scale (wall time, and CPU time and peak RSS from another run)")
    print(f"{'':<56} {'wall s':>7} {'CPU s':>7} {'peak MB':>8}  limit")
    for what, seconds, cpu, rss, limit in bench_items(work, quick):
        print(f"{what:<56} {seconds:>7.2f} {cpu:>7.2f} {rss:>8.0f}  {limit}")
    parse = bench_parse(work, quick)
    n = parse.pop("n")
    floor = parse["json.loads"]
    print(f"\nparse cost of {n:,} integers (CPU seconds), next to json.loads")
    for label, seconds in parse.items():
        print(f"{label:<34} {seconds:>7.2f} s {seconds / floor:>7.1f}x")
    r = bench_items_aws(work, quick)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
    print(
        f"\ncreate execution of {r['n']:,} items from S3 on moto: {r['arrays']} arrays, "
        f"{sum(r['calls'].values())} AWS calls, {r['seconds']:.1f} s\n  {detail}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--items-only", action="store_true", help="only the items section")
    args = parser.parse_args()
    sizes = [10, 1_000, 10_000] if args.quick else [10, 1_000, 10_000, 100_000]
    work = Path(tempfile.mkdtemp(prefix="batchmap-bench-"))
    server = _start_moto()
    try:
        _setup_account()
        if not args.items_only:
            print("create execution (AWS Batch, moto)")
            print(f"{'children':>9} {'AWS calls':>9} {'seconds':>8} {'peak MB':>8}  calls")
            for n in sizes:
                r = bench_create(work, n)
                detail = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
                print(
                    f"{n:>9,} {sum(r['calls'].values()):>9} {r['seconds']:>8.2f} "
                    f"{r['peak_mb']:>8.1f}  {detail}"
                )
            print("\nget execution refresh / logs --follow tick / status grid (AWS calls)")
            print(
                f"{'children':>9} {'refresh':>8} {'tick':>5} {'grid':>5} {'naive':>6} "
                f"{'naive/tick':>11}"
            )
            for n in sizes:
                r = bench_status(work, n)
                print(
                    f"{n:>9,} {r['refresh']:>8} {r['tick']:>5} {r['grid']:>5} {r['naive']:>6} "
                    f"{r['naive'] / r['tick']:>10.0f}x"
                )
            print("\nlocal backend vs xargs -P (trivial children)")
            r = bench_local(work, 200 if args.quick else 1_000)
            print(
                f"{r['n']:,} children: batchmap {r['batchmap']:.2f}s, xargs {r['xargs']:.2f}s, "
                f"ratio {r['ratio']:.2f}"
            )
        print_items(work, args.quick)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # moto_server sometimes outlives SIGTERM
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
