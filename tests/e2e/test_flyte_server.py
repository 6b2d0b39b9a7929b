"""flytekit's map tasks on AWS Batch, end to end against moto's server, both kinds (the
ArrayNode ``flytekit.map_task`` and the legacy ``map_task``) of tests/testdata/flyte/runs.py,
packaged by the real ``pyflyte package`` (issue 17: items 1, 4, 8, 9, 10, 11 on AWS).

batchmap registers and submits; the job definition and each SubmitJob request are then
read back from moto, and every child is started exactly as AWS Batch starts it: the job
definition's command (python3 running batchmap's child, which runs flytekit's
``pyflyte-map-execute`` as it is), the submission's environment, AWS Batch's own variables,
credentials only from a stand-in of the container credentials endpoint. The children read
``inputs.pb`` from moto's S3 and write ``outputs.pb`` or ``error.pb`` there with flytekit's
own code (``FLYTE_AWS_ENDPOINT`` points flytekit's s3fs at moto; on AWS it is not set).

moto runs no containers: the test gives each child the status its real exit code means and
writes its real output to CloudWatch Logs under the execution's stream prefix, as the
awslogs driver does; ``get execution`` and ``logs`` then read them the way they read AWS.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws_account import ROLE_ARN, served, set_job, write_logs  # noqa: F401
from tests.conftest import Invoke
from tests.flyte.test_flyte_run import package  # noqa: F401  (pyflyte package, once)
from tests.runtime.awsbatch import Container, image_with_python3, start_child, submission
from tests.runtime.conftest import StandIn, standin  # noqa: F401

pytest.importorskip("flyteidl")
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        shutil.which("pyflyte-map-execute") is None or shutil.which("pyflyte") is None,
        reason="running flytekit children needs flytekit's pyflyte and pyflyte-map-execute",
    ),
]
P = ("-p", "flytesnacks", "-d", "development")
KINDS = {"arraynode": "runs.squares", "legacy": "runs.legacy_squares"}
TOKEN = "container-token"
BUCKET = "bm-bucket"
STORE = "store/flytesnacks/development"


@pytest.fixture
def aws(
    served: str,  # noqa: F811
    cli: Invoke,
    package: Path,  # noqa: F811
    standin: Callable[..., StandIn],  # noqa: F811
    tmp_path: Path,
) -> dict[str, Any]:
    """The guide's account on moto's server, runs.tgz registered, and the image a child
    runs in: python3, flytekit's commands, the task's module in its working folder."""
    result = cli("register", "files", str(package / "runs.tgz"), *P, "--version", "v1")
    assert result.exit_code == 0, result.stderr
    kw = {"region_name": "us-east-1", "endpoint_url": served}
    creds = boto3.client("sts", **kw).assume_role(RoleArn=ROLE_ARN, RoleSessionName="child")[
        "Credentials"
    ]
    answer = json.dumps(
        {
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["SessionToken"],
            "Expiration": creds["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()
    endpoint = standin(
        lambda method, path, headers: (
            (200, answer) if headers.get("authorization") == TOKEN else (401, b"")
        )
    )
    flytekit = Path(str(shutil.which("pyflyte-map-execute"))).parent
    path = f"{image_with_python3(tmp_path / 'image-bin')}:{flytekit}"
    return {
        "server": served,
        "batch": boto3.client("batch", **kw),
        "s3": boto3.client("s3", **kw),
        "container": Container(path, endpoint.url + "/v2/credentials/c", TOKEN, served),
        "workdir": package,
        "credentials": endpoint,
    }


def _exec(workflow: str, inputs: str, envs: str = "") -> Path:
    path = Path(f"{workflow}.yaml")
    path.write_text(
        f"iamRoleARN: {ROLE_ARN}\ninputs:\n{inputs}envs:\n{envs or '    {}'}\n"
        f"workflow: {workflow}\n"
    )
    return path


def _create(cli: Invoke, exec_file: Path, name: str) -> dict[str, Any]:
    result = cli("create", "execution", *P, "--execFile", str(exec_file), name, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _run_children(
    aws: dict[str, Any], manifest: dict[str, Any], **extra: str
) -> list[subprocess.CompletedProcess[str]]:
    """Every child of ``manifest``, started as AWS Batch starts it; then its status set
    from its exit code and its output written to CloudWatch Logs (moto does neither)."""
    definition, requests = submission(aws["batch"], manifest)
    done = []
    for job, (request, size) in zip(manifest["jobs"], requests, strict=True):
        for position in range(size):
            child = start_child(
                definition,
                request,
                position,
                aws["container"],
                workdir=aws["workdir"],
                FLYTE_AWS_ENDPOINT=aws["server"],
                **extra,
            )
            job_id = f"{job['jobId']}:{position}" if size > 1 else job["jobId"]
            set_job(job_id, "SUCCEEDED" if child.returncode == 0 else "FAILED", child.returncode)
            stream = f"batchmap/{manifest['name']}/default/{uuid.uuid4().hex}"
            write_logs(stream, (child.stdout + child.stderr).splitlines())
            done.append(child)
    return done


def _keys(aws: dict[str, Any], name: str) -> list[str]:
    prefix = f"{STORE}/{name}/flyte/outputs/"
    found = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"][len(prefix) :] for o in found)


def _json(cli: Invoke, *args: str) -> Any:
    result = cli(*args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", KINDS)
def test_children_run_as_aws_batch_starts_them(cli: Invoke, aws: dict[str, Any], kind: str) -> None:
    exec_file = _exec(KINDS[kind], "    xs: [1, -2, 3]\n")
    dry = cli(
        "create", "execution", *P, "--execFile", str(exec_file), "--dryRun", "-o", "json", "sq"
    )
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)
    definition = plan["jobDefinition"]
    command = definition["containerProperties"]["command"]
    # flytekit's command runs as it is, in batchmap's child: python3 is in every image
    # `pyflyte package` builds.
    assert command[:4] == ["python3", "-I", "-S", "-c"] and command[5:7] == [
        "--",
        "pyflyte-map-execute",
    ]
    outputs = f"s3://{BUCKET}/{STORE}/sq/flyte/outputs"
    given = command[command.index("--output-prefix") + 1]
    assert given == (f"{outputs}/{{{{batchmap.index}}}}" if kind == "arraynode" else outputs)
    # Propeller's clamp (minRetries 1) and default timeout (72h) for flytekit's tasks.
    assert definition["retryStrategy"]["attempts"] == 2
    assert definition["timeout"] == {"attemptDurationSeconds": 259_200}

    manifest = _create(cli, exec_file, "sq")
    children = _run_children(aws, manifest)
    assert [c.returncode for c in children] == [0, 1, 0], [c.stderr[-2000:] for c in children]
    for index, child in enumerate(children):
        assert child.stdout.splitlines()[0] == (
            f"batchmap-task: index={index} attempt=1 size=3 execution=sq"
        )
    assert _keys(aws, "sq") == ["0/outputs.pb", "1/error.pb", "2/outputs.pb"]
    assert len(aws["credentials"].requests) >= 3  # container credentials, never keys
    assert _json(cli, "get", "execution", *P, "sq", "--outputs") == [1, None, 9]

    # Failure reasons: error.pb's whole traceback in JSON, its exception in the table.
    failed = [c for c in _json(cli, "get", "execution", *P, "sq")["children"] if c["index"] == 1]
    assert "Traceback" in failed[0]["reason"]
    table = cli("get", "execution", *P, "sq", "--all").stdout
    assert "ValueError: no negative numbers here: -2" in table and "Traceback" not in table
    # Flyte's link names (task_links.go), with today's console URLs.
    job_id = manifest["jobs"][0]["jobId"]
    assert (
        "AWS Batch Job https://us-east-1.console.aws.amazon.com/batch/home?region=us-east-1"
        f"#jobs/array-job/{job_id}"
    ) in table
    assert "AWS Batch #0-0 (PhaseSuccess) https://us-east-1.console.aws.amazon.com/cloudwatch/" in (
        table
    )
    assert "AWS Batch #1-0 (PhaseRetryableFailure) https://" in table

    # Every child's lines, labelled by index from the child's first line.
    lines = cli("logs", *P, "sq").stdout.splitlines()
    assert {"[0] squaring 1", "[1] squaring -2", "[2] squaring 3"} <= set(lines)
    assert any(line.startswith("[1] ") and "no negative numbers here: -2" in line for line in lines)


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_pb_left_by_a_child_that_exited_0_fails_it(
    cli: Invoke, aws: dict[str, Any], kind: str
) -> None:
    exec_file = _exec(KINDS[kind], "    xs: [5, -6]\n", '    FLYTE_FAIL_ON_ERROR: "false"\n')
    manifest = _create(cli, exec_file, "lenient")
    ok, bad = _run_children(aws, manifest)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert bad.returncode == 1
    error = f"s3://{BUCKET}/{STORE}/lenient/flyte/outputs/1/error.pb"
    assert bad.stderr.splitlines()[-1] == (
        f"batchmap-task: error: flytekit left {error}: the child failed, as Propeller counts it"
    )
    assert _keys(aws, "lenient") == ["0/outputs.pb", "1/error.pb"]


@pytest.mark.parametrize("kind", KINDS)
def test_follow_then_relaunch_the_failed_children_keeping_their_indexes(
    cli: Invoke, aws: dict[str, Any], kind: str
) -> None:
    exec_file = _exec(KINDS[kind], "    xs: [-1, 3, -2]\n")
    manifest = _create(cli, exec_file, "root")
    assert [c.returncode for c in _run_children(aws, manifest)] == [1, 0, 1]
    follow = cli("logs", *P, "root", "--follow")
    assert follow.exit_code == 7  # 1 of 3 succeeded; min_success_ratio 0.5 needs 2
    tails = follow.stderr.split("--- child ")[1:]
    assert [t.split(" ", 1)[0] for t in tails] == ["0", "2"]
    assert "[2] squaring -2" in tails[1]  # each failed child's last lines, not only a header

    relaunch = cli("relaunch", *P, "root", "--failed", "--name", "fix", "-o", "json")
    assert relaunch.exit_code == 0, relaunch.stderr
    fix = _json(cli, "get", "execution", *P, "fix")
    children = _run_children(aws, fix, ALLOW_NEGATIVE="1")  # what the user fixed
    assert [c.returncode for c in children] == [0, 0], [c.stderr[-2000:] for c in children]
    # Position 1 of the relaunch is the root's child 2: its label, its element, its output.
    assert [c.stdout.splitlines()[0].split()[1] for c in children] == ["index=0", "index=2"]
    assert _keys(aws, "fix") == ["0/outputs.pb", "2/outputs.pb"]
    assert _json(cli, "get", "execution", *P, "root", "--outputs") == [1, 9, 4]
    lines = cli("logs", *P, "fix").stdout.splitlines()
    assert {"[0] squaring -1", "[2] squaring -2"} <= set(lines)


def test_children_get_propellers_environment_on_aws(cli: Invoke, aws: dict[str, Any]) -> None:
    seen = {}
    for workflow, name in (("runs.environments", "env"), ("runs.legacy_environments", "legacy")):
        manifest = _create(cli, _exec(workflow, "    xs: [7, 8]\n"), name)
        children = _run_children(aws, manifest, AWS_BATCH_JOB_ATTEMPT="2")  # a second attempt
        assert [c.returncode for c in children] == [0, 0], [c.stderr[-2000:] for c in children]
        seen[workflow] = [
            json.loads(v) for v in _json(cli, "get", "execution", *P, name, "--outputs")
        ]
    for workflow, children in seen.items():
        for index, env in enumerate(children):
            assert env["x"] == 7 + index
            assert env["FLYTE_INTERNAL_EXECUTION_WORKFLOW"] == f"flytesnacks:development:{workflow}"
            assert env["FLYTE_ATTEMPT_NUMBER"] == "1"  # AWS Batch's attempt 2, from 0
            assert env["FLYTE_FAIL_ON_ERROR"] == "true"
    array_node, legacy = seen["runs.environments"], seen["runs.legacy_environments"]
    assert [
        (e["BATCH_JOB_ARRAY_INDEX_VAR_NAME"], e["FLYTE_K8S_ARRAY_INDEX"]) for e in array_node
    ] == [
        ("FLYTE_K8S_ARRAY_INDEX", "0"),
        ("FLYTE_K8S_ARRAY_INDEX", "1"),
    ]
    assert [
        (e["BATCH_JOB_ARRAY_INDEX_VAR_NAME"], e["BATCH_JOB_ARRAY_INDEX_OFFSET"]) for e in legacy
    ] == [
        ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
        ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
    ]
