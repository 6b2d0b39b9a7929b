"""End to end against moto's server: children started exactly as AWS Batch starts them.

Inputs are staged into moto's S3 by batchmap's own staging. Each child then runs the job
definition's command from ``job_definition()`` with the SubmitJob request's
``containerOverrides.environment`` from ``submit_requests()``, the ``AWS_BATCH_*`` variables
AWS Batch sets, no access keys — only ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and a token,
served by a local stand-in of the container credentials endpoint with an assumed role's
credentials — and moto checking every request's SigV4 signature and the role's policy.
``python3 -I -S`` has no site-packages: boto3 cannot be imported there. Outputs are read
back from S3.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchmap.backends.aws.requests import job_definition, submit_requests
from batchmap.files.store import S3Store
from batchmap.launchplans.model import LaunchPlan
from batchmap.launchplans.parse import parse_files
from batchmap.runtime import child
from batchmap.runtime.child import LABEL_LINE as FIRST_LINE
from batchmap.tasks import kind_of
from batchmap.tasks.base import Target
from batchmap.tasks.staging import stage, stage_relaunch
from tests.aws_account import ECS_TRUST
from tests.conftest import moto_api
from tests.runtime.awsbatch import Container, image_with_python3, start_child
from tests.runtime.conftest import StandIn

BUCKET = "bm-child"
PREFIX = "store ü+=/sp ace"  # keys with spaces, unicode, '+' and '=' in every request
ROLE = "arn:aws:iam::123456789012:role/child-role"
TOKEN = "Bearer container-token"
# The command each child runs: it reports what it got, and fails for the item "fail".
SCRIPT = """
import importlib.util, json, os, sys
if sys.argv[1] == "fail":
    print("failing on purpose", file=sys.stderr)
    sys.exit(3)
json.dump({
    "argv": sys.argv[1:],
    "index": os.environ["BATCHMAP_INDEX"],
    "item": json.loads(os.environ["BATCHMAP_ITEM"]),
    "execution": os.environ["BATCHMAP_EXECUTION"],
    "team": os.environ["TEAM"],
    "boto3": importlib.util.find_spec("boto3") is not None,
}, open(os.environ["BATCHMAP_OUTPUT"], "w"))
"""
ITEMS = ["zero", "un ü", "deux;$(id) 'q'", "fail"]


@pytest.fixture
def account(server: str, standin: Callable[..., StandIn], tmp_path: Path) -> dict[str, Any]:
    """A bucket, a role allowed to read and write it, and a container credentials endpoint
    that hands out that role's credentials (as the ECS agent does for jobRoleArn)."""
    moto_api(server, "/moto-api/reset")
    kw = {"region_name": "us-east-1", "endpoint_url": server}
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket=BUCKET)
    iam = boto3.client("iam", **kw)
    iam.create_role(RoleName="child-role", AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    iam.put_role_policy(RoleName="child-role", PolicyName="io", PolicyDocument=json.dumps(policy))
    creds = boto3.client("sts", **kw).assume_role(RoleArn=ROLE, RoleSessionName="child")
    answer = json.dumps(
        {
            "AccessKeyId": creds["Credentials"]["AccessKeyId"],
            "SecretAccessKey": creds["Credentials"]["SecretAccessKey"],
            "Token": creds["Credentials"]["SessionToken"],
            "Expiration": creds["Credentials"]["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()
    endpoint = standin(
        lambda m, p, h: (200, answer) if h.get("authorization") == TOKEN else (401, b"")
    )
    path = image_with_python3(tmp_path / "image-bin")
    return {
        "server": server,
        "s3": s3,
        "store": S3Store(s3, BUCKET, PREFIX),
        "credentials": endpoint,
        "path": path,
        "container": Container(path, endpoint.url + "/v2/credentials/x", TOKEN, server),
    }


@contextlib.contextmanager
def signatures_checked(server: str) -> Iterator[None]:
    """moto authenticates every request (SigV4 signature, session token, role policy)."""
    moto_api(server, "/moto-api/reset-auth", b"0")
    try:
        yield
    finally:
        moto_api(server, "/moto-api/reset-auth", b"inf")


def _plan(tmp_path: Path, command: list[str]) -> LaunchPlan:
    path = tmp_path / "lp.yaml"
    path.write_text(
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[str]\n  tag:\n    type: str\n    default: T\n"
        "map:\n  over: [xs]\n"
        f"task:\n  image: python:3.12-slim\n  command: {json.dumps(command)}\n"
        "  env:\n    TEAM: vision\n"
    )
    return parse_files([path])[0]


def _run_children(
    account: dict, plan: LaunchPlan, execution: str, inputs_uri: str, size: int, **extra: str
) -> list[subprocess.CompletedProcess[str]]:
    spec = plan.spec_dict()
    base = account["store"].uri(f"p/d/{execution}")
    child_spec = kind_of(plan).child(plan, {}, Target(execution, "p", "d", base))
    definition = job_definition(
        execution=execution,
        plan=spec,
        child=child_spec,
        role=ROLE,
        service_account=None,
        log_group="/aws/batch/job",
        plugin={},
        eks=False,
    )
    (request,) = submit_requests(
        execution=execution,
        project="p",
        domain="d",
        plan=spec,
        size=size,
        queue="q",
        inputs_uri=inputs_uri,
        output_prefix=account["store"].uri("p/d/e2e/outputs"),
        envs={},
    )
    with signatures_checked(account["server"]):
        return [
            start_child(definition, request, index, account["container"], **extra)
            for index in range(size)
        ]


def _output(account: dict, index: int) -> Any:
    key = f"{PREFIX}/p/d/e2e/outputs/{index}.json"
    return json.loads(account["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_children_read_their_items_and_store_outputs_on_s3(account: dict, tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["python3", "-I", "-S", "-c", SCRIPT, "{{ item }}", "{{ inputs.tag }}"])
    staged = stage(account["store"], "p/d/e2e", plan, {"xs": ITEMS, "tag": "a;b"})
    assert staged.inputs_uri == f"s3://{BUCKET}/{PREFIX}/p/d/e2e/inputs.json"
    children = _run_children(account, plan, "e2e", staged.inputs_uri, len(ITEMS))
    assert [c.returncode for c in children] == [0, 0, 0, 3], [c.stderr for c in children]
    for index, done in enumerate(children):
        label = done.stdout.splitlines()[0]
        assert label == f"batchmap-task: index={index} attempt=1 size=4 execution=e2e"
        assert FIRST_LINE.match(label)
    assert [c.stderr for c in children] == ["", "", "", "failing on purpose\n"]
    # Each child fetched its own credentials from the endpoint, with the token.
    assert len(account["credentials"].requests) == len(ITEMS)
    for index, item in enumerate(ITEMS[:3]):
        assert _output(account, index) == {
            "argv": [item, "a;b"],
            "index": str(index),
            "item": item,
            "execution": "e2e",
            "team": "vision",
            "boto3": False,  # python3 -I -S: no site-packages in the child
        }
    with pytest.raises(account["s3"].exceptions.NoSuchKey):
        _output(account, 3)  # a failed child stores no output


def test_a_relaunch_runs_the_original_items_and_indexes(account: dict, tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["python3", "-I", "-S", "-c", SCRIPT, "{{ item }}", "{{ index }}"])
    stage(account["store"], "p/d/e2e", plan, {"xs": ITEMS, "tag": "T"})
    relaunch = stage_relaunch(account["store"], "p/d/e2e-r1", "p/d/e2e", [2, 0])
    children = _run_children(account, plan, "e2e-r1", relaunch.inputs_uri, 2)
    assert [c.returncode for c in children] == [0, 0], [c.stderr for c in children]
    assert [c.stdout.splitlines()[0] for c in children] == [
        "batchmap-task: index=2 attempt=1 size=2 execution=e2e-r1",
        "batchmap-task: index=0 attempt=1 size=2 execution=e2e-r1",
    ]
    assert _output(account, 2)["argv"] == [ITEMS[2], "2"]
    assert _output(account, 0)["execution"] == "e2e-r1"


def test_a_missing_command_is_127(account: dict, tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["no-such-command-here", "{{ item }}"])
    staged = stage(account["store"], "p/d/e2e", plan, {"xs": ["x", "y"], "tag": "T"})
    done = _run_children(account, plan, "e2e", staged.inputs_uri, 2)[1]
    assert done.returncode == 127
    assert done.stdout == "batchmap-task: index=1 attempt=1 size=2 execution=e2e\n"
    assert done.stderr == "batchmap-task: command not found: no-such-command-here\n"


def test_an_unreachable_s3_is_one_line_and_70(account: dict, tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["true"])
    staged = stage(account["store"], "p/d/e2e", plan, {"xs": ["x", "y"], "tag": "T"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = _run_children(
        account, plan, "e2e", staged.inputs_uri, 2, AWS_ENDPOINT_URL=nowhere, AWS_MAX_ATTEMPTS="2"
    )[0]
    assert done.returncode == 70
    assert done.stdout == ""
    assert re.fullmatch(
        r"batchmap-task: error: cannot read s3://bm-child/store ü\+=/sp ace/p/d/e2e/inputs\.json: "
        r"ConnectionRefusedError: .*, after 2 attempts\n",
        done.stderr,
    ), done.stderr


def test_without_the_container_token_the_child_says_so(account: dict, tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["true"])
    staged = stage(account["store"], "p/d/e2e", plan, {"xs": ["x", "y"], "tag": "T"})
    done = _run_children(
        account, plan, "e2e", staged.inputs_uri, 2, AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong"
    )[0]
    assert done.returncode == 70
    assert done.stderr.startswith(
        "batchmap-task: error: cannot read s3://bm-child/store ü+=/sp ace/p/d/e2e/inputs.json: "
        "cannot get credentials from the container credentials endpoint: HTTP 401"
    )
    assert done.stderr.count("\n") == 1


def test_python3_without_site_packages_cannot_import_boto3() -> None:
    """The job definition's ``python3 -I -S`` sees no installed package: the interpreter
    that runs these tests imports boto3, and with those flags it cannot."""
    found = "import importlib.util as u, sys; sys.exit(u.find_spec('boto3') is None)"
    assert subprocess.run([sys.executable, "-c", found]).returncode == 0  # installed...
    assert subprocess.run([sys.executable, "-I", "-S", "-c", found]).returncode == 1  # unseen


def _s3_env(account: dict, endpoint: str | None = None) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint or account["server"],
    }


def test_throttling_and_5xx_are_retried_with_backoff(
    account: dict, standin: Callable[..., StandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injector in front of moto answers the first requests as a throttled S3 does,
    then passes requests through."""
    monkeypatch.setattr(child, "BACKOFF_BASE", 0.0)
    account["s3"].put_object(Bucket=BUCKET, Key="k", Body=b"0123456789")
    faults = [
        (503, b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"),
        (500, b"<Error><Code>InternalError</Code><Message>Try again.</Message></Error>"),
    ]
    upstream = urllib.parse.urlsplit(account["server"])

    def route(method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if faults:
            return faults.pop(0)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    proxy = standin(route)
    s3 = child.S3(_s3_env(account, proxy.url))
    assert s3.get(BUCKET, "k", 2, 5) == b"234"
    assert len(proxy.requests) == 3
    faults.extend([(503, b"<Error><Code>SlowDown</Code></Error>")] * 5)
    with pytest.raises(child.RuntimeFailure, match=r"^SlowDown: no message \(HTTP 503\), after 5"):
        child.S3(_s3_env(account, proxy.url)).get(BUCKET, "k")


def test_refusals_are_not_retried(account: dict) -> None:
    store = child.Store(_s3_env(account))
    with pytest.raises(
        child.RuntimeFailure,
        match=r"^cannot read s3://bm-child/nope: NoSuchKey: The specified key does not exist\. "
        r"\(HTTP 404\)$",
    ):
        store.read(f"s3://{BUCKET}/nope")
    with pytest.raises(child.RuntimeFailure, match=r"NoSuchBucket: .* \(HTTP 404\)$"):
        store.write("s3://no-such-bucket/k.json", b"{}")


def test_a_bucket_in_another_region_is_signed_for_its_region(
    account: dict, standin: Callable[..., StandIn]
) -> None:
    """S3 refuses a request signed for the wrong region and names the right one."""
    account["s3"].put_object(Bucket=BUCKET, Key="k", Body=b"here")
    upstream = urllib.parse.urlsplit(account["server"])

    def route(method: str, path: str, headers: dict[str, str]) -> tuple:
        if "/eu-west-3/s3/" not in headers["authorization"]:
            body = b"<Error><Code>AuthorizationHeaderMalformed</Code></Error>"
            return 400, body, {"x-amz-bucket-region": "eu-west-3"}
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    proxy = standin(route)
    s3 = child.S3({**_s3_env(account, proxy.url), "AWS_MAX_ATTEMPTS": "2"})
    assert s3.get(BUCKET, "k") == b"here"
    assert s3.region == "eu-west-3" and len(proxy.requests) == 2


def test_a_web_identity_comes_before_the_container_endpoint(account: dict, tmp_path: Path) -> None:
    """EKS roles for service accounts: the projected token is exchanged at STS (moto) for
    the role's credentials, which then sign S3 requests that moto authenticates."""
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2ln\n")
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_ARN": ROLE,
        "AWS_ROLE_SESSION_NAME": "child-7",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": account["container"].credentials_url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL": account["server"],
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    creds = child.resolve_credentials(env)
    assert creds.source == "web identity" and creds.token and creds.expiry
    assert account["credentials"].requests == []
    account["s3"].put_object(Bucket=BUCKET, Key="k", Body=b"signed by the role")
    s3 = child.S3(env)
    s3._credentials = creds
    with signatures_checked(account["server"]):
        assert s3.get(BUCKET, "k") == b"signed by the role"
    token.unlink()
    with pytest.raises(child.RuntimeFailure, match="cannot read AWS_WEB_IDENTITY_TOKEN_FILE"):
        child.resolve_credentials(env)
