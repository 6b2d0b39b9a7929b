"""relaunch, terminate and clean-up on AWS Batch (moto)."""

import json
import time
from pathlib import Path

import boto3
import pytest

from batchmap.files.store import LocalStore
from batchmap.launchplans.parse import parse_files
from batchmap.runtime import child as runtime
from batchmap.tasks.staging import stage, stage_relaunch
from tests.aws_account import register_with_items, set_job
from tests.conftest import Invoke, write

P = ("-p", "flytesnacks", "-d", "development")


@pytest.mark.usefixtures("aws")
def test_relaunch_failed_children_of_a_10000_child_array(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 10_000)
    created = json.loads(
        cli("create", "execution", *P, "--execFile", str(exec_file), "big", "-o", "json").stdout
    )
    parent = created["jobs"][0]["jobId"]
    for i in (0, 4242, 9999):
        set_job(f"{parent}:{i}", "FAILED", 1)
    result = cli("relaunch", *P, "big", "--failed", "--name", "big-r1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["indexMap"] == [0, 4242, 9999]
    assert (manifest["relaunchOf"], manifest["queue"]["name"]) == ("big", "critical")
    (job,) = manifest["jobs"]
    batch = boto3.client("batch", region_name="us-east-1")
    detail = batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
    assert detail["arrayProperties"]["size"] == 3
    env = {e["name"]: e["value"] for e in detail["container"]["environment"]}
    assert env["BATCHMAP_INPUTS"].endswith("/big-r1/inputs.json")
    s3 = boto3.client("s3", region_name="us-east-1")
    staged = json.loads(
        s3.get_object(Bucket="bm-bucket", Key=("store/flytesnacks/development/big-r1/inputs.json"))[
            "Body"
        ].read()
    )
    assert staged["items"] == "s3://bm-bucket/store/flytesnacks/development/big/items.jsonl"
    assert staged["size"] == 3 and staged["rootSize"] == 10_000
    children = json.loads(cli("get", "execution", *P, "big-r1", "-o", "json").stdout)["children"]
    assert sorted(c["index"] for c in children) == [0, 4242, 9999]
    root = json.loads(cli("get", "execution", *P, "big", "--status", "FAILED", "-o", "json").stdout)
    assert [r["name"] for r in root["relaunches"]] == ["big-r1"]
    assert root["relaunches"][0]["indexes"] == [0, 4242, 9999]


def test_index_maps_at_the_edges_of_split_arrays(tmp_path: Path) -> None:
    """Position → original index across array offsets, read by the runtime itself."""
    lp = write(
        tmp_path / "lp.yaml",
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[int]\nmap:\n  over: [xs]\n"
        "task:\n  image: i\n  command: [echo, '{{ item }}']\n",
    )
    plan = parse_files([lp])[0]
    store = LocalStore(tmp_path / "s")
    stage(store, "p/d/root", plan, {"xs": [i * 7 for i in range(25_000)]})
    failed = [0, 9_999, 10_000, 19_999, 20_000, 24_999]
    relaunch = stage_relaunch(store, "p/d/r1", "p/d/root", failed)
    for position, original in enumerate(failed):
        env = {
            "BATCHMAP_INPUTS": relaunch.inputs_uri,
            "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "AWS_BATCH_JOB_ARRAY_INDEX",
            "AWS_BATCH_JOB_ARRAY_INDEX": str(position),
        }
        prepared = runtime.prepare(["echo", "{{ item }}", "{{ index }}"], env)
        assert prepared.command == ["echo", str(original * 7), str(original)]
        assert prepared.env["BATCHMAP_INDEX"] == str(original)
        runtime.finish(prepared, 1)
    # A relaunch of the relaunch: its map refers to the root directly.
    second = stage_relaunch(store, "p/d/r2", "p/d/root", [24_999])
    item, _, size, index = runtime.load_item(second.inputs_uri, 0)
    assert (item, size, index) == (24_999 * 7, 1, 24_999)


@pytest.mark.usefixtures("aws")
def test_terminate_a_running_array_and_a_finished_one(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 5)
    created = json.loads(
        cli("create", "execution", *P, "--execFile", str(exec_file), "t1", "-o", "json").stdout
    )
    parent = created["jobs"][0]["jobId"]
    finished = cli("delete", "execution", *P, "t1")
    assert finished.exit_code == 0 and "already finished" in finished.stderr
    for i in range(5):
        set_job(f"{parent}:{i}", "RUNNING")
    set_job(parent, "PENDING")
    result = cli(
        "terminate", "execution", *P, "t1", "--no-wait", "--reason", "stop it", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["stopped"] == {"what": "1 array job", "ids": [parent]}
    batch = boto3.client("batch", region_name="us-east-1")
    assert batch.describe_jobs(jobs=[parent])["jobs"][0]["statusReason"] == "stop it"
    data = json.loads(cli("get", "execution", *P, "t1", "-o", "json").stdout)
    assert data["terminated"]["reason"] == "stop it"
    assert data["status"]["phase"] == "ABORTED"
    # AWS Batch stops the children (one with its own words, one with none): every child
    # the abort stopped carries the one reason the manifest recorded.
    from moto.batch.models import batch_backends

    set_job(f"{parent}:0", "FAILED", 143, "Essential container in task exited")
    for i in range(1, 5):
        set_job(f"{parent}:{i}", "FAILED", 143, "stop it" if i % 2 else None)
    set_job(parent, "FAILED", None, "stop it")
    stopped = int(time.time() * 1000) + 1000  # each attempt ends after the abort was asked
    for i in range(5):
        job = batch_backends["123456789012"]["us-east-1"]._jobs[f"{parent}:{i}"]
        for attempt in job.attempts:
            attempt["stoppedAt"] = stopped
    data = json.loads(cli("get", "execution", *P, "t1", "-o", "json").stdout)
    assert data["status"]["phase"] == "ABORTED" and data["state"] == "FINISHED"
    assert {c["reason"] for c in data["children"]} == {"stop it"}
    listed = json.loads(cli("get", "execution", *P, "-o", "json").stdout)
    assert [e["status"]["phase"] for e in listed] == ["ABORTED"]


@pytest.mark.usefixtures("aws")
def test_the_job_definition_is_deregistered_once_finished(cli: Invoke) -> None:
    exec_file = register_with_items(cli, 3)
    batch = boto3.client("batch", region_name="us-east-1")
    detached = json.loads(
        cli("create", "execution", *P, "--execFile", str(exec_file), "bg", "-o", "json").stdout
    )
    before = cli("get", "execution", *P, "bg", "-o", "json").stdout
    # Reading never writes: the finished execution's revision stays until a writer settles it.
    assert cli("get", "execution", *P, "bg", "-o", "json").stdout == before
    (definition,) = batch.describe_job_definitions(jobDefinitions=[detached["jobDefinitionArn"]])[
        "jobDefinitions"
    ]
    assert definition["status"] == "ACTIVE"
    created = json.loads(
        cli(
            "create", "execution", *P, "--execFile", str(exec_file), "done", "--wait", "-o", "json"
        ).stdout
    )
    arn = created["jobDefinitionArn"]
    (definition,) = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
    assert definition["status"] == "INACTIVE"
    assert (
        json.loads(cli("get", "execution", *P, "done", "-o", "json").stdout)[
            "jobDefinitionDeregistered"
        ]
        is True
    )
