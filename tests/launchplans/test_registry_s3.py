"""The same register → list → --execFile round trip with the registry on S3 (moto)."""

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.conftest import Invoke, write

ROOT = Path(__file__).parents[2]
SQUARES = ROOT / "examples" / "squares.yaml"


@pytest.fixture
def s3_config() -> Path:
    return write(Path("batchmap.yaml"), "registry: s3://team-bucket/batchmap/registry\n")


@mock_aws
def test_s3_registry_round_trip(cli: Invoke, s3_config: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="team-bucket")
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-bucket")["Contents"]]
    assert keys == ["batchmap/registry/flytesnacks/development/launchplans/squares/v1.json"]
    listed = json.loads(
        cli("get", "launchplan", "-p", "flytesnacks", "-d", "development", "-o", "json").stdout
    )
    assert listed[0]["name"] == "squares"
    assert cli("register", "files", str(SQUARES)).exit_code == 0  # identical: no-op
    changed = write(Path("sq.yaml"), SQUARES.read_text().replace("retries: 0", "retries: 2"))
    conflict = cli("register", "files", str(changed))
    assert conflict.exit_code == 3 and "task.retries: 0 → 2" in conflict.stderr
    result = cli(
        "get",
        "launchplan",
        "-p",
        "flytesnacks",
        "-d",
        "development",
        "squares",
        "--execFile",
        "exec.yaml",
    )
    assert result.exit_code == 0, result.stderr
    assert "workflow: squares" in Path("exec.yaml").read_text()


@mock_aws
def test_missing_bucket_is_reported_not_a_traceback(cli: Invoke, s3_config: Path) -> None:
    result = cli("register", "files", str(SQUARES))
    assert result.exit_code == 4
    assert "NoSuchBucket" in result.stderr
    assert "Traceback" not in result.stderr
