"""moto's ThreadedMotoServer on 127.0.0.1, counting every request it serves.

The server runs in the benchmark's own process, so the benchmark can also reach
moto's in-memory jobs and log streams (to give children statuses and log lines,
which moto's Batch never produces without Docker). Every request is counted by
operation, and every response's bytes are summed: ``Traffic.since(mark)`` says
what one run of a command asked and downloaded. moto's timings are not AWS's
(no network, no pagination, no quotas): compare runs made against it, never its
absolute seconds.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
LOG_GROUP = "/aws/batch/job"
_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/")
_APP = re.compile(r"\bapp/(\S+)")


@dataclass
class Traffic:
    """Requests by operation and response bytes, since the server started."""

    calls: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    # the same, per client that names itself (AWS_SDK_UA_APP_ID: "app/<id>" in its user agent)
    apps: dict[str, tuple[Counter[str], Counter[str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_app(self, app: str) -> tuple[Counter[str], Counter[str]]:
        with self.lock:
            calls, sizes = self.apps.get(app, (Counter(), Counter()))
            return Counter(calls), Counter(sizes)

    def mark(self) -> tuple[Counter[str], Counter[str]]:
        with self.lock:
            return Counter(self.calls), Counter(self.bytes)

    def since(self, mark: tuple[Counter[str], Counter[str]]) -> tuple[Counter[str], Counter[str]]:
        calls, sizes = self.mark()
        return calls - mark[0], sizes - mark[1]


def _operation(environ: dict[str, Any]) -> str:
    """``service:Operation`` of a request, for every protocol moto serves here."""
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else "?"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocol (CloudWatch Logs)
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    path = environ.get("PATH_INFO", "")
    if service == "batch":  # REST-JSON: /v1/describejobs
        return f"batch:{path.rsplit('/', 1)[-1]}"
    if service in ("iam", "sts"):  # query protocol: Action= in the form body
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        match = re.search(rb"Action=([A-Za-z]+)", body)
        return f"{service}:{match.group(1).decode() if match else '?'}"
    method = environ.get("REQUEST_METHOD", "")
    return f"{service}:{method} {'object' if path.count('/') > 1 else 'bucket'}"


class _Counting:
    """WSGI middleware: count the request, sum the response's bytes."""

    def __init__(self, app: Any, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            yield from self.app(environ, start_response)
            return
        operation = _operation(environ)
        app = _APP.search(environ.get("HTTP_USER_AGENT", ""))
        # Counted before the answer goes out, never after: a client that has its answer
        # may start the next measured window, which must not see this call.
        self._count(operation, app, 1, 0)
        for chunk in self.app(environ, start_response):
            self._count(operation, app, 0, len(chunk))
            yield chunk

    def _count(self, operation: str, app: Any, calls: int, size: int) -> None:
        with self.traffic.lock:
            self.traffic.calls[operation] += calls
            self.traffic.bytes[operation] += size
            if app:
                counts = self.traffic.apps.setdefault(app.group(1), (Counter(), Counter()))
                counts[0][operation] += calls
                counts[1][operation] += size


def start() -> tuple[Any, str, Traffic]:
    """A counting ThreadedMotoServer on 127.0.0.1 with AWS Batch in its no-Docker mode."""
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # moto's request log and the tracebacks of what it does not implement
    # (SimulatePrincipalPolicy) are noise here: batchmap reports those calls itself.
    for name in ("werkzeug", "moto", "flask.app"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    traffic = Traffic()

    class CountingServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _Counting(DomainDispatcherApplication(create_backend_app), traffic)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = CountingServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        method="POST",
        data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()
    _patch_moto()
    return server, url, traffic


def _patch_moto() -> None:
    """Where moto's Batch answers differ from AWS's (tests/moto_fidelity.py), and the
    searchedLogStreams AWS no longer sends."""
    from tests import moto_fidelity

    moto_fidelity.apply()

    # AWS has returned an empty searchedLogStreams since 2020 (FilterLogEvents reference);
    # moto lists every stream of the group in every response, which is bytes AWS never sends.
    from moto.logs.models import LogGroup

    filter_events = LogGroup.filter_log_events

    def without_searched(self: Any, *args: Any, **kwargs: Any) -> Any:
        events, token, _ = filter_events(self, *args, **kwargs)
        return events, token, []

    LogGroup.filter_log_events = without_searched


def setup_account(endpoint: str) -> dict[str, str]:
    """A role, an unmanaged compute environment, queue ``q`` and bucket ``bench-bucket``."""
    import boto3

    kwargs = {"region_name": REGION, "endpoint_url": endpoint}
    iam = boto3.client("iam", **kwargs)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role = iam.create_role(RoleName="task", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    service = iam.create_role(RoleName="svc", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    batch = boto3.client("batch", **kwargs)
    batch.create_compute_environment(
        computeEnvironmentName="ce1", type="UNMANAGED", state="ENABLED", serviceRole=service
    )
    batch.create_job_queue(
        jobQueueName="q",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce1"}],
    )
    boto3.client("s3", **kwargs).create_bucket(Bucket="bench-bucket")
    boto3.client("logs", **kwargs).create_log_group(logGroupName=LOG_GROUP)
    return {"role": role, "queue": "q", "bucket": "bench-bucket"}


# --- what moto's Batch never does by itself: statuses and log lines ----------------------


def _jobs() -> dict[str, Any]:
    from moto.batch.models import batch_backends

    return batch_backends[ACCOUNT][REGION]._jobs  # type: ignore[no-any-return]


def set_statuses(parent: str, statuses: Iterable[str]) -> None:
    """Give the children of array job ``parent`` these statuses (index order), and the
    parent the status AWS gives it while any child is unfinished (PENDING)."""
    import datetime as dt

    jobs = _jobs()
    now = dt.datetime.now()
    statuses = list(statuses)
    for index, status in enumerate(statuses):
        job = jobs[f"{parent}:{index}"]
        job.status = status
        done = status in ("SUCCEEDED", "FAILED")
        job.job_stopped = done
        job.exit_code = (1 if status == "FAILED" else 0) if done else None
        job.job_stopped_reason = "Essential container in task exited" if done else None
        if done:
            job.job_stopped_at = now
    finished = all(s in ("SUCCEEDED", "FAILED") for s in statuses)
    top = jobs[parent]
    top.status = ("FAILED" if "FAILED" in statuses else "SUCCEEDED") if finished else "PENDING"
    top.job_stopped = finished


def stream_name(prefix: str) -> str:
    """A stream as AWS Batch names it under the job definition's prefix."""
    return f"{prefix}/default/{uuid.uuid4().hex}"


def give_streams(parent: str, size: int, prefix: str) -> list[str]:
    """One log stream per child of ``parent``, recorded on its job (as AWS does when a
    child starts), each opening with the runtime's label line."""
    from moto.logs.models import logs_backends

    logs = logs_backends[ACCOUNT][REGION]
    jobs = _jobs()
    names = []
    now = int(time.time() * 1000)
    for index in range(size):
        name = stream_name(prefix)
        logs.create_log_stream(LOG_GROUP, name)
        logs.put_log_events(
            LOG_GROUP,
            name,
            [{"timestamp": now, "message": f"batchmap-task: index={index} attempt=1"}],
        )
        job = jobs[f"{parent}:{index}"]
        job.log_stream_name = name
        for attempt in job.attempts:
            attempt.setdefault("container", {})["logStreamName"] = name
        names.append(name)
    return names


def put_lines(stream: str, lines: list[tuple[int, str]]) -> None:
    """Events (timestamp in ms, message) into one stream, as one PutLogEvents batch."""
    from moto.logs.models import logs_backends

    logs_backends[ACCOUNT][REGION].put_log_events(
        LOG_GROUP, stream, [{"timestamp": ts, "message": message} for ts, message in lines]
    )


def events_bytes(streams: Iterable[str], start_ms: int = 0) -> tuple[int, int]:
    """(events, bytes) of the events of these streams since ``start_ms``, each sized as
    FilterLogEvents returns it: the least any reader of those events downloads."""
    from moto.logs.models import logs_backends

    group = logs_backends[ACCOUNT][REGION].groups[LOG_GROUP]
    count = size = 0
    for name in streams:
        for event in group.streams[name].events:
            if event.timestamp >= start_ms:
                count += 1
                size += len(json.dumps({**event.to_filter_dict(), "logStreamName": name}))
    return count, size
