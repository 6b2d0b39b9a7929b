"""setup's Batch waiters (botocore's waiter format) and what their failures become:
INVALID is AWS refusing (5) with its reason, too slow is AWS unavailable (6), a refused
describe is that refusal. Driven by botocore's Stubber, with no delay between polls."""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.stub import Stubber
from botocore.waiter import WaiterModel, create_waiter_with_client

from batchmap.errors import AwsRefusedError, AwsServiceError, ExitCode
from batchmap.setup.batch import WAITERS
from batchmap.setup.driver import wait


def _env(status: str, reason: str = "") -> dict:
    env = {
        "computeEnvironmentName": "batchmap",
        "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/b",
        "ecsClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/b",
        "status": status,
    }
    if reason:
        env["statusReason"] = reason
    return {"computeEnvironments": [env]}


@pytest.fixture
def batch():  # type: ignore[no-untyped-def]
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub


def _waiter(client):  # type: ignore[no-untyped-def]
    model = copy.deepcopy(WAITERS)
    model["waiters"]["ComputeEnvironmentValid"].update(delay=0, maxAttempts=3)
    return create_waiter_with_client("ComputeEnvironmentValid", WaiterModel(model), client)


def test_valid_after_creating(batch) -> None:  # type: ignore[no-untyped-def]
    client, stub = batch
    stub.add_response("describe_compute_environments", _env("CREATING"))
    stub.add_response("describe_compute_environments", _env("VALID"))
    wait(_waiter(client), "compute environment batchmap", computeEnvironments=["batchmap"])
    stub.assert_no_pending_responses()


def test_invalid_is_a_refusal_with_awss_reason(batch) -> None:  # type: ignore[no-untyped-def]
    client, stub = batch
    stub.add_response("describe_compute_environments", _env("INVALID", "CLIENT_ERROR - no role"))
    with pytest.raises(AwsRefusedError) as caught:
        wait(_waiter(client), "compute environment batchmap", computeEnvironments=["batchmap"])
    assert caught.value.message == "compute environment batchmap: INVALID: CLIENT_ERROR - no role"
    assert caught.value.exit_code == ExitCode.AWS_REFUSED


def test_too_slow_is_unavailable(batch) -> None:  # type: ignore[no-untyped-def]
    client, stub = batch
    for _ in range(3):
        stub.add_response("describe_compute_environments", _env("CREATING"))
    with pytest.raises(AwsServiceError) as caught:
        wait(_waiter(client), "compute environment batchmap", computeEnvironments=["batchmap"])
    assert caught.value.message == "compute environment batchmap: still not ready after 0 s"
    assert "re-run batchmap setup" in (caught.value.hint or "")


def test_a_refused_describe_is_that_refusal(batch) -> None:  # type: ignore[no-untyped-def]
    client, stub = batch
    stub.add_client_error(
        "describe_compute_environments", "AccessDeniedException", "not allowed", 403
    )
    with pytest.raises(AwsRefusedError) as caught:
        wait(_waiter(client), "compute environment batchmap", computeEnvironments=["batchmap"])
    assert "AccessDeniedException: not allowed" in caught.value.message
