"""The child's credential chain, in the AWS SDKs' order: environment, then the container
endpoint (ECS RELATIVE_URI, or FULL_URI with a token or a token file), then EC2 IMDSv2 —
each against a local stand-in on 127.0.0.1, never a real metadata address."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from batchmap.runtime import child
from tests.runtime.conftest import StandIn

Start = Callable[..., StandIn]
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}


def _creds(name: str, expires_in: float = 3600) -> bytes:
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in))
    return json.dumps(
        {
            "AccessKeyId": f"AK-{name}",
            "SecretAccessKey": f"secret-{name}",
            "Token": f"token-{name}",
            "Expiration": expiry,
            "RoleArn": "arn:aws:iam::123456789012:role/r",
        }
    ).encode()


def _container(start: Start, token: str | None = None, name: str = "container") -> StandIn:
    def route(method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if token is not None and headers.get("authorization") != token:
            return 401, b'{"error": "bad token"}'
        return 200, _creds(name)

    return start(route)


def _imds(start: Start, v1_only: bool = False) -> StandIn:
    token = "imds-session-token"

    def route(method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if path == "/latest/api/token":
            if v1_only:
                return 403, b""
            if method != "PUT" or headers.get("x-aws-ec2-metadata-token-ttl-seconds") != "21600":
                return 400, b""
            return 200, token.encode()
        if not v1_only and headers.get("x-aws-ec2-metadata-token") != token:
            return 401, b""
        if path == "/latest/meta-data/iam/security-credentials/":
            return 200, b"instance-role\n"
        if path == "/latest/meta-data/iam/security-credentials/instance-role":
            body = json.loads(_creds("imds"))
            return 200, json.dumps({"Code": "Success", "Type": "AWS-HMAC", **body}).encode()
        return 404, b""

    return start(route)


def test_environment_keys_come_before_a_web_identity(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AK",
        "AWS_SECRET_ACCESS_KEY": "S",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing"),
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
    }
    assert child.resolve_credentials(env).source == "environment"  # the file is not read


def test_environment_keys_with_a_session_token() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"}
    creds = child.resolve_credentials({**env, **NO_IMDS})
    assert (creds.access_key, creds.secret_key, creds.token, creds.expiry) == ("AK", "S", "T", None)
    legacy = child.resolve_credentials({**env, "AWS_SESSION_TOKEN": "", "AWS_SECURITY_TOKEN": "L"})
    assert legacy.token == "L"
    with pytest.raises(child.RuntimeFailure, match="AWS_SECRET_ACCESS_KEY is not set"):
        child.resolve_credentials({"AWS_ACCESS_KEY_ID": "AK", **NO_IMDS})


def test_full_uri_with_a_token(standin: Start) -> None:
    server = _container(standin, token="Bearer sekret")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer sekret",
        **NO_IMDS,
    }
    creds = child.resolve_credentials(env)
    assert (creds.access_key, creds.token) == ("AK-container", "token-container")
    assert creds.expiry is not None and 3500 < creds.expiry - time.time() < 3700
    assert server.requests[0][:2] == ("GET", "/v1/credentials")


def test_full_uri_token_file_wins_over_the_token(standin: Start, tmp_path: Path) -> None:
    server = _container(standin, token="from-file")
    token_file = tmp_path / "token"
    token_file.write_text("from-file")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-variable",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
        **NO_IMDS,
    }
    assert child.resolve_credentials(env).access_key == "AK-container"
    token_file.write_text("bad\ntoken")
    with pytest.raises(child.RuntimeFailure, match="not a legal header value"):
        child.resolve_credentials(env)


def test_full_uri_must_be_https_loopback_or_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_request(*args: object, **kwargs: object) -> None:
        raise AssertionError("a refused endpoint must not be contacted")

    monkeypatch.setattr(child, "_http", no_request)
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://creds.example.invalid/x", **NO_IMDS}
    with pytest.raises(child.RuntimeFailure, match="only https, a loopback address or"):
        child.resolve_credentials(env)


def test_relative_uri_goes_to_the_ecs_agent_and_wins_over_full_uri(
    standin: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = _container(standin, name="ecs")
    other = _container(standin, name="full")
    monkeypatch.setattr(child, "ECS_CREDENTIALS_HOST", ecs.url)
    env = {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc-123",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": other.url + "/x",
        **NO_IMDS,
    }
    assert child.resolve_credentials(env).access_key == "AK-ecs"
    assert [r[1] for r in ecs.requests] == ["/v2/credentials/abc-123"]
    assert other.requests == []


def test_container_endpoint_errors_are_retried_then_one_line(
    standin: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(child, "BACKOFF_BASE", 0.0)
    failing = standin(lambda method, path, headers: (500, b"agent busy"))
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": failing.url + "/creds", **NO_IMDS}
    with pytest.raises(child.RuntimeFailure, match=r"container credentials endpoint: HTTP 500"):
        child.resolve_credentials(env)
    assert len(failing.requests) == 3


def test_imdsv2_token_then_role_then_credentials(standin: Start) -> None:
    imds = _imds(standin)
    creds = child.resolve_credentials({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url})
    assert (creds.access_key, creds.token) == ("AK-imds", "token-imds")
    assert [(m, p) for m, p, _ in imds.requests] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/instance-role"),
    ]


def test_imds_falls_back_to_v1_unless_v1_is_disabled(standin: Start) -> None:
    imds = _imds(standin, v1_only=True)
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}
    assert child.resolve_credentials(env).access_key == "AK-imds"
    with pytest.raises(child.RuntimeFailure, match="refused a session token"):
        child.resolve_credentials({**env, "AWS_EC2_METADATA_V1_DISABLED": "true"})


def test_imds_disabled_or_absent_ends_the_chain(standin: Start) -> None:
    imds = _imds(standin)
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_EC2_METADATA_DISABLED": "TRUE"}
    with pytest.raises(child.RuntimeFailure, match="no AWS credentials: give the job a role"):
        child.resolve_credentials(env)
    assert imds.requests == []
    # Not on EC2: nothing answers the token request, and the chain ends there.
    with pytest.raises(child.RuntimeFailure, match="no AWS credentials"):
        child.resolve_credentials({"AWS_EC2_METADATA_SERVICE_ENDPOINT": closed_port()})


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_the_order_is_environment_then_container_then_imds(
    standin: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = _container(standin, name="ecs")
    imds = _imds(standin)
    monkeypatch.setattr(child, "ECS_CREDENTIALS_HOST", ecs.url)
    env = {
        "AWS_ACCESS_KEY_ID": "AK-env",
        "AWS_SECRET_ACCESS_KEY": "S",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/creds",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
    }
    order = []
    for drop in ("AWS_ACCESS_KEY_ID", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        creds = child.resolve_credentials(env)
        order.append((creds.source, len(ecs.requests), len(imds.requests)))
        env = {k: v for k, v in env.items() if k != drop and not k.startswith("AWS_SECRET")}
    order.append((child.resolve_credentials(env).source, len(ecs.requests), len(imds.requests)))
    assert order == [
        ("environment", 0, 0),
        ("the container credentials endpoint", 1, 0),
        ("EC2 instance metadata", 1, 3),
    ]


def test_credentials_are_fetched_again_near_their_expiry(standin: Start) -> None:
    minutes_left = [2.0]

    def route(method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        return 200, _creds("c", minutes_left[0] * 60)

    server = standin(route)
    s3 = child.S3({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/c", **NO_IMDS})
    s3.credentials()
    s3.credentials()  # expires within REFRESH_BEFORE: fetched again
    minutes_left[0] = 60.0
    s3.credentials()
    s3.credentials()  # an hour left: kept
    assert len(server.requests) == 3
