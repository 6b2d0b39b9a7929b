"""Items at scale: 1,000,000 items from a JSONL file or inline, 10,000,000 read and
staged as a stream, a real `create execution` of 1,000,000 items from S3 against moto (its
AWS calls), and the parse cost next to `json.loads` (the floor). Wall time from a run of
its own; peak RSS and CPU time from another (a small wrapper process between, see
RSS_WRAPPER).

    python benchmarks/run.py --only items [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _counting_factory(calls: Counter[str]) -> Any:
    from batchmap.aws.clients import ClientFactory

    factory = ClientFactory(region="us-east-1")

    def hook(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    factory.session.events.register("before-call", hook)
    return factory


def _settings(work: Path) -> Any:
    from batchmap.config.loader import Overrides, resolve

    (work / "batchmap.yaml").write_text(
        "backend: aws\nstorage: s3://bench-bucket/store\nregistry: ./registry\n"
        "queues:\n  executionQueues:\n    - dynamic: q\n      attributes: [default]\n"
        "  workflowConfigs:\n    - tags: [default]\n"
    )
    return resolve(Overrides(), {}, work, work)


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
    """A real create execution whose items are a JSONL object in S3, against moto."""
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


def print_items(work: Path, quick: bool, endpoint: str) -> None:
    """The items rows; ``endpoint`` is the moto server the AWS part runs against."""
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
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        r = bench_items_aws(work, quick)
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
    detail = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
    print(
        f"\ncreate execution of {r['n']:,} items from S3 on moto: {r['arrays']} arrays, "
        f"{sum(r['calls'].values())} AWS calls, {r['seconds']:.1f} s\n  {detail}"
    )
