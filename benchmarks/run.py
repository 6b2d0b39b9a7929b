"""batchmap benchmarks: AWS calls, wall time and peak memory, against moto.

    python benchmarks/run.py            # everything (about a minute)
    python benchmarks/run.py --quick    # smaller sizes

Prints, for arrays of 10 to 100,000 children:
- create execution: AWS calls by operation, wall time, peak Python memory;
- get execution (one refresh) and logs --follow (one tick): AWS calls, next to the
  naive approach of describing every child (what `awsbstat -e` does);
- the local backend running 1,000 trivial children, next to `xargs -P <cpus>`
  running the same commands (the process-spawn floor).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    sizes = [10, 1_000, 10_000] if args.quick else [10, 1_000, 10_000, 100_000]
    work = Path(tempfile.mkdtemp(prefix="batchmap-bench-"))
    server = _start_moto()
    try:
        if True:
            _setup_account()
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
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
