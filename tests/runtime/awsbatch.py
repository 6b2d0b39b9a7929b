"""Start a child exactly as AWS Batch starts its container, for any test that has the job
definition and the SubmitJob request — from batchmap's builders (``job_definition()``,
``submit_requests()``) or read back from moto (DescribeJobDefinitions; the submission).

The container gets the image's PATH, the job definition's environment, the submission's
``containerOverrides.environment``, AWS Batch's own variables and, for credentials, only
the container endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and a token) — never
access keys — then runs the job definition's command as is.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOB_ID = "8f2c9a6e-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Container:
    path: str  # the image's PATH
    credentials_url: str  # a stand-in of the container credentials endpoint
    token: str
    endpoint: str  # AWS_ENDPOINT_URL: moto's server
    region: str = "us-east-1"


def image_with_python3(directory: Path) -> str:
    """A PATH whose only python3 is this interpreter (started with -I -S by the job
    definition, it sees no site-packages: a stock image's Python)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "python3").symlink_to(Path(sys.executable).resolve())
    return f"{directory}:/usr/bin:/bin"


def container_env(
    definition: Mapping[str, Any], request: Mapping[str, Any], index: int, container: Container
) -> dict[str, str]:
    env = {"PATH": container.path, "HOSTNAME": "ip-10-0-0-1.ec2.internal"}
    for source in (
        definition["containerProperties"].get("environment", []),
        request.get("containerOverrides", {}).get("environment", []),
    ):
        env.update({e["name"]: e["value"] for e in source})
    array = "arrayProperties" in request
    env.update(
        AWS_BATCH_JOB_ID=f"{JOB_ID}:{index}" if array else JOB_ID,
        AWS_BATCH_JOB_ATTEMPT="1",
        AWS_BATCH_JQ_NAME=str(request.get("jobQueue") or "queue"),
        AWS_BATCH_CE_NAME="compute-environment",
        AWS_REGION=container.region,
        AWS_DEFAULT_REGION=container.region,
        AWS_EXECUTION_ENV="AWS_ECS_EC2",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=container.credentials_url,
        AWS_CONTAINER_AUTHORIZATION_TOKEN=container.token,
        AWS_ENDPOINT_URL=container.endpoint,
        AWS_EC2_METADATA_DISABLED="true",  # never reach for a real metadata address
    )
    if array:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return env


def start_child(
    definition: Mapping[str, Any],
    request: Mapping[str, Any],
    index: int,
    container: Container,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """Run child ``index`` of the array ``request`` to its end; ``extra`` overrides env."""
    env = {**container_env(definition, request, index, container), **extra}
    command = definition["containerProperties"]["command"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
