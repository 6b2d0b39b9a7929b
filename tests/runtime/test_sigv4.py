"""The child's SigV4 signer gives the headers botocore gives, on the same requests at a fixed
clock: S3SigV4Auth (what botocore uses for S3) and the generic SigV4Auth; and the child's
S3 URLs are the ones botocore's own S3 client sends."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from batchmap.runtime import child

FIXED = dt.datetime(2026, 11, 24, 12, 34, 56)
NOW = float(calendar.timegm(FIXED.timetuple()))
KEYS = [
    "p/d/e/items.jsonl",
    "with space/and+plus=eq.json",
    "ünïcødé/✓ 日本.json",
    "tilde~/star*/paren(1)/'quote'/semi;colon:/at@/comma,/hash#/q?/pct%/amp&.json",
]
TOKENS = [None, "FwoGZXIvYXdzEJr//////////wEaDKey+/=token"]
SIGNED = ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token")
ENDPOINTS = {
    "virtual-hosted": ({"AWS_REGION": "eu-west-3"}, "my-bucket"),
    "path-style (dots)": ({"AWS_REGION": "eu-west-3"}, "my.dotted.bucket"),
    "path-style (endpoint)": ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "my-bucket"),
    "china": ({"AWS_DEFAULT_REGION": "cn-north-1"}, "my-bucket"),
}


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED)


def _requests(s3: child.S3, bucket: str, key: str) -> list[tuple[str, str, dict, bytes]]:
    url = s3.url(bucket, key)
    return [
        ("GET", url, {"Range": "bytes=16-31"}, b""),
        ("GET", url, {}, b""),
        ("PUT", url, {"Content-Type": "application/json"}, '{"x": "ü"}'.encode()),
    ]


def _ours(method, url, headers, body, token, region, service="s3") -> dict[str, str]:
    creds = child.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    signed = child.sign(method, url, headers, body, creds, region, service, now=NOW)
    return {k: signed[k] for k in SIGNED if k in signed}


def _botocore(auth_class, method, url, headers, body, token, region, service="s3") -> dict:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    creds = BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    auth_class(creds, service, region).add_auth(request)
    return {k: request.headers[k] for k in SIGNED if k in request.headers}


@pytest.mark.parametrize("token", TOKENS, ids=["keys", "session-token"])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("where", list(ENDPOINTS))
def test_signatures_equal_botocore_s3sigv4auth(where: str, key: str, token: str | None) -> None:
    env, bucket = ENDPOINTS[where]
    s3 = child.S3(env)
    for method, url, headers, body in _requests(s3, bucket, key):
        ours = _ours(method, url, headers, body, token, s3.region)
        theirs = _botocore(botocore.auth.S3SigV4Auth, method, url, headers, body, token, s3.region)
        assert ours == theirs, (method, url)
        assert ("X-Amz-Security-Token" in ours) is (token is not None)


@pytest.mark.parametrize("token", TOKENS, ids=["keys", "session-token"])
def test_signatures_equal_botocore_generic_sigv4auth(token: str | None) -> None:
    """The core algorithm (canonical request, string to sign, signing key), with a query
    string, for a service other than S3. SigV4Auth does not add X-Amz-Content-SHA256 by
    itself, so both sides are given the request with it."""
    url = "https://sts.us-east-1.amazonaws.com/?Version=2011-06-15&Action=GetCallerIdentity"
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
        "User-Agent": "never signed",
    }
    ours = _ours("POST", url, headers, body, token, "us-east-1", "sts")
    generic = botocore.auth.SigV4Auth
    theirs = _botocore(generic, "POST", url, headers, body, token, "us-east-1", "sts")
    assert ours == theirs
    assert "user-agent" not in ours["Authorization"]


def test_header_values_are_trimmed_as_botocore_does() -> None:
    url = "https://b.s3.us-east-1.amazonaws.com/k"
    headers = {"X-Amz-Meta-Note": "  two   spaces  ", "Range": "bytes=0-7"}
    ours = _ours("GET", url, headers, b"", None, "us-east-1")
    assert ours == _botocore(botocore.auth.S3SigV4Auth, "GET", url, headers, b"", None, "us-east-1")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("where", list(ENDPOINTS))
def test_urls_are_the_ones_botocores_s3_client_sends(where: str, key: str) -> None:
    env, bucket = ENDPOINTS[where]
    s3 = child.S3(env)
    sent: list[str] = []

    class Captured(Exception):
        pass

    def capture(request, **_):  # type: ignore[no-untyped-def]
        sent.append(request.url)
        raise Captured

    client = boto3.client(
        "s3",
        region_name=s3.region,
        endpoint_url=s3.endpoint,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(s3={"addressing_style": "path" if s3.endpoint else "auto"}),
    )
    client.meta.events.register("before-send.s3.GetObject", capture)
    with pytest.raises(Captured):
        client.get_object(Bucket=bucket, Key=key)
    assert sent == [s3.url(bucket, key)]
