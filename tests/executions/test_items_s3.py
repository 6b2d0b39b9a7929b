"""Items from S3 (moto, in-process): an object streamed, a prefix listed in key order,
a missing object (exit 3), a refused one (exit 5, with the permission to grant), and a
create execution whose items come from S3 end to end."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.aws_account import REGION, ROLE_ARN
from tests.conftest import Invoke, write

P = ("-p", "flytesnacks", "-d", "development")


@pytest.fixture
def s3(aws: None) -> object:
    return boto3.client("s3", region_name=REGION)


def _staged(execution: str) -> list[bytes]:
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket="bm-bucket", Key=f"store/flytesnacks/development/{execution}/items.jsonl"
    )["Body"]
    return body.read().splitlines()


def _plan(cli: Invoke, item_type: str = "int", inputs: str = "    numbers: [1, 2]\n") -> Path:
    """A launch plan mapping over ``numbers`` (a list[item_type]) and its exec file."""
    write(
        Path("lp.yaml"),
        "project: flytesnacks\ndomain: development\nname: items\nversion: v1\n"
        f"inputs:\n  numbers: {{type: 'list[{item_type}]'}}\nmap:\n  over: [numbers]\n"
        "task:\n  image: busybox\n  command: [echo, '{{ item }}']\n",
    )
    assert cli("register", "files", "lp.yaml").exit_code == 0
    return write(Path("exec.yaml"), f"iamRoleARN: {ROLE_ARN}\nworkflow: items\ninputs:\n{inputs}")


def test_items_from_an_s3_object(cli: Invoke, s3) -> None:
    s3.put_object(Bucket="bm-bucket", Key="in/numbers.jsonl.gz", Body=gzip.compress(b"4\n5\n6\n"))
    exec_file = _plan(cli, inputs='    numbers: {fromFile: "s3://bm-bucket/in/numbers.jsonl.gz"}\n')
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "s3items", "-o", "json")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["size"] == 3
    assert manifest["itemSources"] == {
        "numbers": {
            "fromFile": "s3://bm-bucket/in/numbers.jsonl.gz",
            "format": "jsonl",
            "size": 3,
        }
    }
    assert _staged("s3items") == [b"4", b"5", b"6"]


def test_items_override_from_a_prefix_in_key_order(cli: Invoke, s3) -> None:
    for key in ("photos/b.jpg", "photos/a.jpg", "photos/notes.txt", "photos/sub/", "other/c.jpg"):
        s3.put_object(Bucket="bm-bucket", Key=key, Body=b"x")
    exec_file = _plan(cli, "str", "    numbers: [x]\n")
    result = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "--items",
        "numbers=s3://bm-bucket/photos/*.jpg",
        "pics",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["itemSources"]["numbers"] == {
        "fromPrefix": "s3://bm-bucket/photos/",
        "suffix": ".jpg",
        "size": 2,
    }
    assert _staged("pics") == [b'"s3://bm-bucket/photos/a.jpg"', b'"s3://bm-bucket/photos/b.jpg"']


def test_a_prefix_for_a_list_of_ints_is_refused(cli: Invoke, s3) -> None:
    exec_file = _plan(cli)
    result = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "--items",
        "numbers=s3://bm-bucket/x/",
    )
    assert result.exit_code == 3
    assert "fromPrefix gives s3:// URIs (strings), but the list holds int" in result.stderr


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bm-bucket/nope.jsonl", "items s3://bm-bucket/nope.jsonl: s3:GetObject: NoSuchKey"),
        ("s3://no-bucket/a.jsonl", "items s3://no-bucket/a.jsonl: s3:GetObject: NoSuchBucket"),
    ],
)
def test_a_missing_object_is_invalid_input(cli: Invoke, s3, uri: str, expected: str) -> None:
    exec_file = _plan(cli)
    result = cli(
        "create", "execution", *P, "--execFile", str(exec_file), "--items", f"numbers={uri}"
    )
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket="bm-bucket", Prefix="store/")


def test_bad_items_in_s3_name_the_object_and_line_and_stage_nothing(cli: Invoke, s3) -> None:
    s3.put_object(Bucket="bm-bucket", Key="in/n.jsonl", Body=b'1\n"two"\n3\n')
    exec_file = _plan(cli)
    result = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "--items",
        "numbers=s3://bm-bucket/in/n.jsonl",
    )
    assert result.exit_code == 3
    assert 'error: s3://bm-bucket/in/n.jsonl:2: expected int, got "two" (a string)' in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket="bm-bucket", Prefix="store/")
    batch = boto3.client("batch", region_name=REGION)
    assert batch.list_jobs(jobQueue="default", jobStatus="SUCCEEDED")["jobSummaryList"] == []


@pytest.fixture
def reader_without_get_object(s3, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A user allowed to list the bucket but not to read its objects; moto enforces IAM
    for every request after this fixture (aws-moto.md §4)."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin

    s3.put_object(Bucket="bm-bucket", Key="in/n.jsonl", Body=b"1\n2\n")
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="reader", PolicyName="list", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    yield {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def test_an_object_the_caller_may_not_read_is_exit_5_with_the_fix(
    cli: Invoke, reader_without_get_object: dict[str, str]
) -> None:
    write(
        Path("lp.yaml"),
        "project: p\ndomain: d\nname: n\nversion: v1\ninputs:\n  xs: {type: 'list[int]'}\n"
        "map:\n  over: [xs]\ntask:\n  image: busybox\n  command: [echo, '{{ item }}']\n",
    )
    write(Path("e.yaml"), "workflow: n\ninputs:\n  xs:\n    fromFile: s3://bm-bucket/in/n.jsonl\n")
    local = {"BATCHMAP_BACKEND": "local", "BATCHMAP_STORAGE": str(Path("store").resolve())}
    local["BATCHMAP_REGISTRY"] = str(Path("registry").resolve())
    assert cli("register", "files", "lp.yaml", env=local).exit_code == 0
    env = {**local, **reader_without_get_object}
    result = cli("create", "execution", "-p", "p", "-d", "d", "--execFile", "e.yaml", env=env)
    assert result.exit_code == 5, result.stderr
    assert "error: items s3://bm-bucket/in/n.jsonl: s3:GetObject: AccessDenied" in result.stderr
    assert "hint: the caller needs s3:GetObject on arn:aws:s3:::bm-bucket/in/n.jsonl" in (
        result.stderr
    )
    assert not Path("store").exists()
