"""The client factory and the translation of botocore errors (moto + Stubber)."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from botocore.stub import Stubber
from moto import mock_aws

from batchmap import __version__
from batchmap.aws.clients import ClientFactory, aws_call, partition_for, translate
from batchmap.errors import (
    AwsRefusedError,
    AwsServiceError,
    ExitCode,
    InvalidInputError,
    NotFoundError,
)


@mock_aws
def test_clients_share_one_session_and_carry_retry_mode_and_user_agent() -> None:
    factory = ClientFactory(region="eu-west-1")
    sts = factory.client("sts")
    assert factory.client("sts") is sts
    assert sts.meta.region_name == "eu-west-1"
    assert sts.meta.config.retries["mode"] == "adaptive"
    assert f"batchmap/{__version__}" in sts.meta.config.user_agent_extra
    assert sts.get_caller_identity()["Account"] == "123456789012"


def test_endpoint_url_is_passed_to_clients() -> None:
    factory = ClientFactory(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert factory.client("batch").meta.endpoint_url == "http://127.0.0.1:9"


def test_unknown_profile_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="AWS profile 'nope' not found"):
        ClientFactory(profile="nope").client("sts")


def test_no_region_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(InvalidInputError, match="no AWS region is set"):
        ClientFactory().client("batch")


@pytest.mark.parametrize(
    ("code", "status", "error", "exit_code"),
    [
        ("AccessDeniedException", 403, AwsRefusedError, ExitCode.AWS_REFUSED),
        ("UnrecognizedClientException", 400, AwsRefusedError, ExitCode.AWS_REFUSED),
        ("ClientException", 400, AwsRefusedError, ExitCode.AWS_REFUSED),
        ("NoSuchEntity", 404, NotFoundError, ExitCode.NOT_FOUND),
        ("TooManyRequestsException", 429, AwsServiceError, ExitCode.AWS_SERVICE),
        ("ThrottlingException", 400, AwsServiceError, ExitCode.AWS_SERVICE),
        ("ServerException", 500, AwsServiceError, ExitCode.AWS_SERVICE),
    ],
)
def test_client_errors_map_to_exit_codes(code, status, error, exit_code) -> None:
    factory = ClientFactory(region="us-east-1")
    batch = factory.client("batch")
    with Stubber(batch) as stub:
        stub.add_client_error("describe_job_queues", code, "nope", http_status_code=status)
        with pytest.raises(error) as info, aws_call("batch:DescribeJobQueues"):
            batch.describe_job_queues()
    assert info.value.exit_code == exit_code
    assert info.value.message.startswith(("batch:DescribeJobQueues", "AWS refused batch:"))
    assert code in info.value.message
    assert isinstance(info.value.__cause__, ClientError)


def test_missing_credentials_and_unreachable_endpoints() -> None:
    refused = translate(NoCredentialsError(), "sts:GetCallerIdentity")
    assert isinstance(refused, AwsRefusedError) and refused.hint
    down = translate(EndpointConnectionError(endpoint_url="http://x"), "batch:SubmitJob")
    assert isinstance(down, AwsServiceError) and "cannot reach AWS" in down.message


def test_an_unreachable_endpoint_ends_in_exit_6() -> None:
    factory = ClientFactory(region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(AwsServiceError), aws_call("sts:GetCallerIdentity"):
        factory.client("sts").get_caller_identity()


def test_partitions() -> None:
    assert partition_for("us-east-1") == "aws"
    assert partition_for("cn-north-1") == "aws-cn"
    assert partition_for("us-gov-west-1") == "aws-us-gov"
    assert partition_for(None) == "aws"
