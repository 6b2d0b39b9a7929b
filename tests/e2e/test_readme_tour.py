"""The README's tour, as written, against moto's server — then every child run the way AWS
Batch starts it, so the outputs `get execution --outputs` reads back were written by real
child processes.

The commands come from README.md itself (the ``A tour`` block): each ``batchmap …`` line
runs through the installed executable, in order, with only what a reader substitutes by
hand — the role ARN ``setup`` printed into exec.yaml (the ``$EDITOR`` line) and the
execution's name (``NAME``). moto runs no containers, so once ``create execution`` has
submitted, the test starts each child itself: the job definition's command as registered
(read back from moto), the submission's environment, AWS Batch's own variables, credentials
only from a local stand-in of the container credentials endpoint (the role ``setup`` made),
and a ``python3`` that sees no site-packages (``-I -S``, as a stock image's would).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from tests.conftest import installed, moto_api
from tests.runtime.awsbatch import Container, image_with_python3, start_child
from tests.runtime.conftest import StandIn, standin  # noqa: F401  (the stand-in fixture)

pytestmark = pytest.mark.server
README = Path(__file__).parents[2] / "README.md"
TOKEN = "container-token"


def tour() -> list[str]:
    """The ``batchmap`` command lines of the README's tour, in order (``a && b`` split)."""
    text = README.read_text()
    block = text.split("## A tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = []
    for raw in block.splitlines():
        line = raw.split("  #", 1)[0].strip()
        if line.startswith("$EDITOR"):
            lines.append(line)
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("batchmap "):
                lines.append(part)
    return lines


def test_the_tour_has_the_steps_this_test_follows() -> None:
    steps = tour()
    assert steps[0] == "batchmap register files examples/squares.yaml"
    for expected in ("batchmap config init --backend aws", "batchmap setup", "batchmap doctor"):
        assert any(s.startswith(expected) for s in steps), expected
    assert steps[-1].startswith("batchmap logs") and "NAME" in steps[-1]


def test_the_readme_tour_runs_as_written(
    server: str,
    tmp_path: Path,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    standin: Callable[..., StandIn],  # noqa: F811
) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # as in every real account
    moto_api(server, "/moto-api/reset")
    moto_api(server, "/moto-api/config", {"batch": {"use_docker": False}})
    work = Path.cwd()  # the isolated fixture's empty working folder
    (work / "examples").symlink_to(README.parent / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHMAP_", "AWS_"))}
    env.update(
        HOME=str(isolated),
        AWS_ENDPOINT_URL=server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        COLUMNS="200",
    )
    said: dict[str, str] = {}
    for line in tour():
        if line.startswith("$EDITOR"):  # the reader pastes the role ARN setup printed
            exec_file = work / "exec.yaml"
            exec_file.write_text(
                exec_file.read_text().replace('iamRoleARN: ""', f"iamRoleARN: {said['role']}")
            )
            continue
        argv = shlex.split(line.replace("NAME", said.get("name", "NAME")))
        if argv[1:3] == ["config", "validate"]:
            # The README shows this on the guide's blocks pasted into ./batchmap.yaml, with
            # the error it prints for a mismatched roleAnnotationKey: here, the file `config
            # init` wrote validates.
            argv = [*argv[:3], str(isolated / ".batchmap" / "config.yaml")]
        done = subprocess.run(
            [installed(), *argv[1:]], cwd=work, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        role = re.search(r"iamRoleARN for exec files: (\S+)", done.stderr + done.stdout)
        if role:
            said["role"] = role.group(1)
        if argv[1:3] == ["create", "execution"] and "--dryRun" not in argv and "--wait" not in argv:
            said["name"] = re.search(r"execution\s+flytesnacks/development/(\S+)", done.stderr)[1]
    assert said.get("role") and said.get("name"), said
    name = said["name"]

    # moto submitted the array without running it: run each child as AWS Batch would.
    kw = {"region_name": "us-east-1", "endpoint_url": server}
    batch, sts = boto3.client("batch", **kw), boto3.client("sts", **kw)
    manifest = json.loads(
        subprocess.run(
            [installed(), "get", "execution", "-p", "flytesnacks", "-d", "development", name,
             "-o", "json"],
            cwd=work, env=env, capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    (definition,) = batch.describe_job_definitions(jobDefinitions=[manifest["jobDefinitionArn"]])[
        "jobDefinitions"
    ]
    (job,) = manifest["jobs"]
    (parent,) = batch.describe_jobs(jobs=[job["jobId"]])["jobs"]
    overrides = [
        e for e in parent["container"]["environment"] if not e["name"].startswith("AWS_BATCH")
    ]
    request = {
        "jobQueue": parent["jobQueue"],
        "arrayProperties": {"size": job["size"]},
        "containerOverrides": {"environment": overrides},
    }
    creds = sts.assume_role(RoleArn=said["role"], RoleSessionName="child")["Credentials"]
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
    container = Container(
        image_with_python3(tmp_path / "image-bin"), endpoint.url + "/v2/credentials/t", TOKEN,
        server,
    )  # fmt: skip
    assert definition["containerProperties"]["command"][:3] == ["python3", "-I", "-S"]
    for index in range(job["size"]):
        child = start_child(definition, request, index, container)
        assert child.returncode == 0, child.stderr
        assert child.stdout.startswith(f"batchmap-task: index={index} attempt=1 ")
    assert len(endpoint.requests) == job["size"]  # each child fetched its own credentials
    outputs = subprocess.run(
        [installed(), "get", "execution", "-p", "flytesnacks", "-d", "development", name,
         "--outputs", "-o", "json"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(outputs.stdout) == [n * n for n in range(1, 11)]
