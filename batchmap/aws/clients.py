"""The AWS client factory and the one translation of botocore errors.

One ``boto3.Session`` per run; every client shares botocore's ``adaptive``
retry mode (standard retries plus a client-side rate limiter) and the user
agent ``batchmap/<version>``. Region, profile and endpoint come from the
config; when they are unset boto3's own ``AWS_*`` variables and profiles
apply as everywhere. boto3 is imported only when a client is first needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from batchmap import __version__
from batchmap.errors import (
    AwsRefusedError,
    AwsServiceError,
    BatchmapError,
    InvalidInputError,
    NotFoundError,
)
from batchmap.redact import redact

RETRY_MODE = "adaptive"
DEFAULT_REGION = "us-east-1"
MAX_ATTEMPTS = 8  # requests per call, the first included
READ_TIMEOUT = 60.0  # seconds; botocore's default

_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
}
_REFUSED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AuthFailure",
}
_NOT_FOUND = {
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "ResourceNotFoundException",
    "NotFound",
    "404",
}
_CREDENTIALS_HINT = (
    "configure AWS credentials: 'aws configure', AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY"
)


class RateLimiter:
    """A token bucket: at most ``rate`` calls a second on average, ``burst`` at once.

    Shared by every client of a run, so a `logs --follow` of 10,000 children
    stays inside the account's quotas (FilterLogEvents about 5/s, Batch 50/s)
    before AWS has to throttle it. The clock and sleep are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        import threading
        import time

        self.rate = rate
        self.burst = burst
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.tokens = float(burst)
        self.last = self.clock()
        self.lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, **_: Any) -> None:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                self.sleep(wait)
                self.waited += wait
                self.tokens = 1.0
                self.last = self.clock()
            self.tokens -= 1


# Our own pace per API, below AWS's quotas (docs/reliability.md).
RATE_LIMITS = {
    "before-call.batch": (20.0, 20),
    "before-call.cloudwatch-logs.FilterLogEvents": (4.0, 4),
    "before-call.cloudwatch-logs.GetLogEvents": (8.0, 8),
}


class ClientFactory:
    """Builds and caches boto3 clients for one run of batchmap."""

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        retry_mode: str = RETRY_MODE,
        max_attempts: int = MAX_ATTEMPTS,
        session: Any = None,
        on_throttle: Callable[[str], None] | None = None,
        models: Path | None = None,
    ) -> None:
        self._region = region
        self._profile = profile
        self._endpoint_url = endpoint_url
        self._retry_mode = retry_mode
        self._max_attempts = max_attempts
        self._session = session
        self._clients: dict[str, Any] = {}
        self._on_throttle = on_throttle
        self._models = models  # where service models are kept without their docs (models.py)
        self.limiters = {
            event: RateLimiter(rate, burst) for event, (rate, burst) in RATE_LIMITS.items()
        }

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3
            from botocore.exceptions import ProfileNotFound

            from batchmap.aws import models

            try:
                self._session = boto3.Session(
                    botocore_session=models.session(self._models),
                    profile_name=self._profile,
                    region_name=self._region,
                )
            except ProfileNotFound:
                raise InvalidInputError(
                    f"AWS profile {self._profile!r} not found",
                    hint="list profiles with 'aws configure list-profiles'",
                ) from None
            # Registered before any client exists, so every client inherits them.
            for event, limiter in self.limiters.items():
                self._session.events.register(event, limiter.acquire)
            if self._on_throttle is not None:
                self._session.events.register("needs-retry", self._notice_throttle)
        return self._session

    def _notice_throttle(self, response: Any = None, operation: Any = None, **_: Any) -> None:
        """Tell the user a call is being retried because AWS throttles it (never ends it)."""
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        code = (parsed or {}).get("Error", {}).get("Code")
        status = (parsed or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if (code in _THROTTLING or status == 429) and self._on_throttle is not None:
            service = getattr(getattr(operation, "service_model", None), "service_name", "aws")
            self._on_throttle(f"{service}:{getattr(operation, 'name', 'call')}")

    @property
    def config(self) -> Any:
        from botocore.config import Config

        return Config(
            retries=self._retries(self._max_attempts),
            read_timeout=READ_TIMEOUT,
            user_agent_extra=f"batchmap/{__version__}",
        )

    def client(self, service: str, *, single_attempt: bool = False) -> Any:
        """The (cached) client for ``service``, e.g. ``"batch"`` or ``"logs"``.

        ``single_attempt`` gives a client whose calls botocore never retries, for calls
        that are not idempotent (SubmitJob): their caller decides what a failure means.
        """
        key = f"{service}/once" if single_attempt else service
        if key not in self._clients:
            from botocore.exceptions import InvalidRegionError, NoRegionError

            config = self.config
            if single_attempt:
                from botocore.config import Config

                config = config.merge(Config(retries=self._retries(1)))
            kwargs: dict[str, Any] = {"config": config}
            if self._endpoint_url:
                kwargs["endpoint_url"] = self._endpoint_url
            try:
                self._clients[key] = self.session.client(service, **kwargs)
            except NoRegionError:
                raise InvalidInputError(
                    "no AWS region is set",
                    hint="pass --region, set aws.region in the config, or set AWS_REGION",
                ) from None
            except InvalidRegionError as exc:
                raise InvalidInputError(
                    f"AWS region {exc.kwargs.get('region_name')!r} is not a region name",
                    hint="use a region such as us-east-2 (--region, aws.region, AWS_REGION)",
                ) from None
            except ValueError as exc:  # botocore: "Invalid endpoint: …"
                raise InvalidInputError(
                    f"{redact(str(exc))}: the endpoint URL must be http(s)://HOST[:PORT]",
                    hint="check --endpoint-url, aws.endpointUrl or AWS_ENDPOINT_URL",
                ) from None
        return self._clients[key]

    def _retries(self, attempts: int) -> dict[str, Any]:
        # botocore's ``max_attempts`` counts retries after the first try (8 would send 9
        # requests, 1 would send 2); ``total_max_attempts`` counts every request sent.
        return {"mode": self._retry_mode, "total_max_attempts": attempts}

    @property
    def region(self) -> str | None:
        region = self.session.region_name
        return str(region) if region else None

    @property
    def region_or_default(self) -> str:
        """The region, or boto3's usual us-east-1 where only a name is needed (links, ARNs
        of a plan); a call without a region still fails as boto3 makes it."""
        return self.region or DEFAULT_REGION


def partition_for(region: str | None) -> str:
    """The AWS partition of a region: aws, aws-cn or aws-us-gov."""
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def translate(exc: BaseException, operation: str) -> BatchmapError:
    """Turn a botocore exception into the batchmap error a user should see."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).strip() or code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{operation}: {code}: {message}"
        if code in _THROTTLING or (isinstance(status, int) and status >= 500):
            return AwsServiceError(
                f"{text} (gave up after retries)",
                hint="AWS is throttling or failing; try again later",
            )
        if code in _REFUSED:
            return AwsRefusedError(
                text,
                hint=_CREDENTIALS_HINT
                if "Token" in code or "Signature" in code or "AccessKey" in code
                else None,
            )
        if code in _NOT_FOUND or status == 404:
            return NotFoundError(text)
        return AwsRefusedError(f"AWS refused {text}")
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return AwsRefusedError(f"{operation}: no AWS credentials found", hint=_CREDENTIALS_HINT)
    if isinstance(exc, bce.ProfileNotFound):
        return InvalidInputError(f"{operation}: {exc}")
    if isinstance(exc, bce.NoRegionError):
        return InvalidInputError(
            f"{operation}: no AWS region is set",
            hint="pass --region, set aws.region in the config, or set AWS_REGION",
        )
    if isinstance(
        exc,
        bce.EndpointConnectionError
        | bce.ConnectTimeoutError
        | bce.ReadTimeoutError
        | bce.ConnectionClosedError,
    ):
        return AwsServiceError(
            f"{operation}: cannot reach AWS: {exc}",
            hint="check the network, --endpoint-url and the region",
        )
    if isinstance(exc, bce.BotoCoreError):
        return AwsServiceError(f"{operation}: {exc}")
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, bce.ClientError | bce.BotoCoreError):  # s3transfer wraps them
        return translate(cause, operation)
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ResponseParserError):
        return AwsServiceError(f"{operation}: the service sent an unreadable response")
    return AwsServiceError(f"{operation}: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def aws_call(operation: str) -> Iterator[None]:
    """``with aws_call("batch:SubmitJob"): ...`` raises batchmap errors, never botocore's."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except (ClientError, BotoCoreError, ResponseParserError, Boto3Error) as exc:
        raise translate(exc, operation) from exc
