"""`batchmap run --backend aws`, the real executable against moto's threaded server: items
from an S3 object and an S3 prefix, a dry run that changes nothing, a re-run that reuses
its launch plan."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.aws_account import ROLE_ARN
from tests.e2e import test_server
from tests.e2e.test_server import run

account = test_server.account  # the same account fixture (on the run's one moto server)

pytestmark = pytest.mark.server
AWS = ("--backend", "aws", "--iamRoleARN", ROLE_ARN, "-p", "p", "-d", "d")


def _s3(account: dict):
    return boto3.client(
        "s3", region_name="us-east-1", endpoint_url=account["env"]["AWS_ENDPOINT_URL"]
    )


def _launch_plans(account: dict) -> list[str]:
    found = _s3(account).list_objects_v2(Bucket="bm-e2e", Prefix="registry/p/d/launchplans/")
    return [o["Key"] for o in found.get("Contents", [])]


def test_run_items_from_an_s3_object_over_http(account: dict) -> None:
    body = "".join(f"{i}\n" for i in range(12_000)).encode()
    _s3(account).put_object(Bucket="bm-e2e", Key="in/n.jsonl", Body=body)
    command = ("--", "echo", "{{ item }}")
    items = ("--image", "busybox", "--items", "s3://bm-e2e/in/n.jsonl")
    dry = run(account, "run", *AWS, *items, "--dryRun", "-o", "json", *command)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["size"] == 12_000
    assert plan["itemSources"]["items"]["fromFile"] == "s3://bm-e2e/in/n.jsonl"
    assert [r["arrayProperties"]["size"] for r in plan["submitJobs"]] == [10_000, 2_000]
    assert _launch_plans(account) == []
    assert account["batch"].describe_job_definitions()["jobDefinitions"] == []
    first = run(account, "run", *AWS, *items, "--name", "first", "-o", "json", *command)
    assert first.returncode == 0, first.stderr
    manifest = json.loads(first.stdout)
    assert [(j["offset"], j["size"]) for j in manifest["jobs"]] == [(0, 10_000), (10_000, 2_000)]
    assert "(registered); 12,000 children" in first.stderr
    staged = _s3(account).get_object(Bucket="bm-e2e", Key="store/p/d/first/items.jsonl")
    assert staged["Body"].read() == body
    again = run(account, "run", *AWS, *items, "--name", "again", *command)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "again"
    assert "(reused)" in again.stderr and "batchmap logs -p p -d d again" in again.stderr
    assert len(_launch_plans(account)) == 1
    status = run(account, "get", "execution", "-p", "p", "-d", "d", "again", "-o", "json")
    assert json.loads(status.stdout)["status"]["phase"] == "SUCCEEDED"  # moto runs nothing


def test_run_over_an_s3_prefix_over_http(account: dict) -> None:
    for key in ("photos/2.jpg", "photos/1.jpg", "photos/readme.txt"):
        _s3(account).put_object(Bucket="bm-e2e", Key=key, Body=b"x")
    result = run(
        account, "run", *AWS, "--image", "busybox", "--items-prefix", "s3://bm-e2e/photos/",
        "--suffix", ".jpg", "--name", "pics", "--", "identify", "{{ item }}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    staged = _s3(account).get_object(Bucket="bm-e2e", Key="store/p/d/pics/items.jsonl")
    assert staged["Body"].read().splitlines() == [
        b'"s3://bm-e2e/photos/1.jpg"',
        b'"s3://bm-e2e/photos/2.jpg"',
    ]
