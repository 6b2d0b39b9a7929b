"""Two `create execution` of one name at the same time, on AWS (moto's server behind the
fault proxy, with a slow RegisterJobDefinition): exactly one submits, the other exits 3
naming the one at work; and a creator killed mid-way is completed by the next one."""

from __future__ import annotations

import json
import signal
import time

import boto3
import pytest

from tests.aws_account import register_with_items
from tests.conftest import Invoke, Result, batchmap_process, run_batchmap
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.server
P = ("-p", "flytesnacks", "-d", "development")
ROUNDS = 10


def _tagged(execution: str) -> list[str]:
    """The array jobs AWS holds for one execution (by batchmap's tag)."""
    batch = boto3.client("batch", region_name="us-east-1")
    ids = [
        j["jobId"]
        for q in ("critical", "default")
        for s in ("SUBMITTED", "PENDING", "RUNNABLE", "RUNNING", "SUCCEEDED", "FAILED")
        for j in batch.list_jobs(jobQueue=q, jobStatus=s)["jobSummaryList"]
        if ":" not in j["jobId"]
    ]
    jobs = batch.describe_jobs(jobs=ids)["jobs"] if ids else []
    return [j["jobId"] for j in jobs if j.get("tags", {}).get("batchmap:execution") == execution]


def _race(exec_file, name: str, endpoint: str, offset: float) -> list[Result]:  # type: ignore[no-untyped-def]
    args = ("create", "execution", *P, "--execFile", str(exec_file), name)
    env = {"AWS_ENDPOINT_URL": endpoint}
    first = batchmap_process(*args, env=env)
    time.sleep(offset)
    second = batchmap_process(*args, env=env)
    results = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=120)
        results.append(Result(process.returncode, stdout, stderr))
    return results


def test_of_two_racing_creators_exactly_one_submits(cli: Invoke, proxy: FaultProxy) -> None:
    exec_file = register_with_items(cli, 8)
    proxy.delay("batch:RegisterJobDefinition", 1.0, times=None)  # a slow registration
    stopped_by_lock = 0
    for round_ in range(ROUNDS):
        name = f"race-{round_}"
        results = _race(exec_file, name, proxy.url, offset=0.1 * round_)
        codes = sorted(r.exit_code for r in results)
        assert codes == [0, 3], [r.stderr for r in results]
        loser = next(r for r in results if r.exit_code == 3)
        assert "Traceback" not in loser.stderr
        if "is being created by pid" in loser.stderr:
            stopped_by_lock += 1
        else:
            assert f"execution '{name}' exists" in loser.stderr, loser.stderr
        assert len(_tagged(name)) == 1, f"round {round_}: {len(_tagged(name))} array jobs"
        manifest = json.loads(cli("get", "execution", *P, name, "-o", "json").stdout)
        assert [j["jobId"] for j in manifest["jobs"]] == _tagged(name)
    assert proxy.count("batch:SubmitJob") == ROUNDS
    print(f"aws: {stopped_by_lock} of {ROUNDS} losers stopped by the lock")
    # Most rounds overlap inside the slow registration: the lock is what stops the loser.
    assert stopped_by_lock >= ROUNDS // 2, stopped_by_lock


def test_a_creator_killed_mid_way_is_completed_by_the_next(cli: Invoke, proxy: FaultProxy) -> None:
    """kill -9 while RegisterJobDefinition is slow: the lock stays behind with a dead pid,
    the manifest says SUBMITTING; the next `create` takes the stale lock over and
    completes the execution (one array job)."""
    exec_file = register_with_items(cli, 5)
    proxy.delay("batch:RegisterJobDefinition", 30.0)
    args = ("create", "execution", *P, "--execFile", str(exec_file), "killed")
    victim = batchmap_process(*args, env={"AWS_ENDPOINT_URL": proxy.url})
    s3 = boto3.client("s3", region_name="us-east-1")
    key = "store/flytesnacks/development/killed/execution.json"
    deadline = time.monotonic() + 60
    while proxy.count("batch:RegisterJobDefinition") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert json.loads(s3.get_object(Bucket="bm-bucket", Key=key)["Body"].read())["state"] == (
        "SUBMITTING"
    )
    lock = json.loads(
        s3.get_object(Bucket="bm-bucket", Key=key.replace("execution.json", "lock.json"))[
            "Body"
        ].read()
    )
    assert lock["pid"] == victim.pid
    proxy.clear()
    rerun = run_batchmap(*args, "-o", "json", env={"AWS_ENDPOINT_URL": proxy.url})
    assert rerun.exit_code == 0, rerun.stderr
    (job,) = _tagged("killed")
    assert [j["jobId"] for j in json.loads(rerun.stdout)["jobs"]] == [job]
    objects = s3.list_objects_v2(Bucket="bm-bucket", Prefix="store/").get("Contents", [])
    assert not [o["Key"] for o in objects if o["Key"].endswith("lock.json")]
