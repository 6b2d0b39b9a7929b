"""A fault proxy: AWS did what was asked, and the answer was lost.

``FaultProxy`` is a small HTTP proxy on 127.0.0.1 in front of moto's
``ThreadedMotoServer``. It forwards every request to moto, so moto carries
the call out, and then, for the operations a test names, loses the answer:
it closes the connection without a response (``drop``), resets it
(``reset``), answers 500/503 instead (``status``), or sends the real answer
late (``delay``, past the client's read timeout when the test wants it).
The client under test (batchmap in a subprocess or in-process, pointed at the
proxy by ``AWS_ENDPOINT_URL``) cannot tell it from AWS.

Operations are named ``service:Operation`` (``batch:SubmitJob``,
``s3:PutObject``, ``logs:FilterLogEvents``, ``iam:GetRole``): the service is
the signing name in the request's ``Authorization`` header, the operation is
read from the protocol (Batch's REST-JSON path ``/v1/submitjob``, the JSON
protocol's ``X-Amz-Target``, the query protocol's ``Action``, S3's method and
query). Every request that reached moto is recorded, so a test can count them.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-connection",
    "upgrade",
    "expect",
}
_SIGNING_NAME = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Seen:
    """One request that reached moto."""

    service: str
    operation: str
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Fault:
    """Lose the answer of the requests ``match`` accepts, ``times`` times (None: always)."""

    match: Callable[[Seen], bool]
    action: str  # drop | reset | status | delay
    times: int | None = 1
    status: int = 503
    seconds: float = 0.0
    injected: int = 0

    def take(self, seen: Seen) -> bool:
        if not self.match(seen) or (self.times is not None and self.injected >= self.times):
            return False
        self.injected += 1
        return True


def operation_of(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> str:
    """The API operation a request calls, read from its protocol."""
    target = headers.get("x-amz-target")
    if target:  # JSON protocol (CloudWatch Logs, ...): Logs_20140328.FilterLogEvents
        return target.rsplit(".", 1)[-1]
    content_type = headers.get("content-type", "")
    if "x-www-form-urlencoded" in content_type:  # query protocol (IAM, STS)
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return action[0]
    if path.startswith("/v1/"):  # Batch's REST-JSON paths: /v1/submitjob
        return path[len("/v1/") :]
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    key = path.strip("/").count("/") >= 1  # /bucket/key... (path-style)
    if method == "PUT":
        return "PutObject" if key and not params else f"PUT?{query}"
    if method == "GET":
        if key:
            return "GetObject"
        return "ListObjectsV2" if params.get("list-type") == ["2"] else f"GET?{query}"
    if method == "HEAD":
        return "HeadObject" if key else "HeadBucket"
    if method == "DELETE":
        return "DeleteObject" if key and not params else f"DELETE?{query}"
    return f"{method}?{query}"


def matches(name: str, path: str | None = None) -> Callable[[Seen], bool]:
    """A matcher for ``service:Operation`` (case-insensitive; Batch's paths are lower case),
    optionally only where the request path contains ``path`` (S3 keys)."""
    service, _, op = name.partition(":")

    def match(seen: Seen) -> bool:
        return (
            seen.service == service
            and seen.operation.lower() == op.lower()
            and (path is None or path in seen.path)
        )

    return match


@dataclass
class FaultProxy:
    """``with FaultProxy(moto_url) as proxy: ...``; ``proxy.url`` is the endpoint to use."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.upstream)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- what a test asks for ------------------------------------------------------------
    def lose(self, name: str, *, times: int | None = 1, path: str | None = None) -> Fault:
        """The call is made; the connection is closed before any answer."""
        return self._add(Fault(matches(name, path), "drop", times))

    def reset(self, name: str, *, times: int | None = 1, path: str | None = None) -> Fault:
        """The call is made; the connection is reset (RST) instead of answered."""
        return self._add(Fault(matches(name, path), "reset", times))

    def fail(
        self, name: str, *, status: int = 503, times: int | None = 1, path: str | None = None
    ) -> Fault:
        """The call is made; the answer is replaced by a 5xx in the service's own format."""
        return self._add(Fault(matches(name, path), "status", times, status=status))

    def delay(
        self, name: str, seconds: float, *, times: int | None = 1, path: str | None = None
    ) -> Fault:
        """The call is made; its answer comes ``seconds`` late."""
        return self._add(Fault(matches(name, path), "delay", times, seconds=seconds))

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, name: str, path: str | None = None) -> int:
        """How many requests of ``service:Operation`` reached moto."""
        match = matches(name, path)
        with self._lock:
            return sum(1 for seen in self.seen if match(seen))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()

    # -- the server ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- one request -------------------------------------------------------------------------
    def _forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):  # type: ignore[no-untyped-def]
        connection = http.client.HTTPConnection(self._host, self._port, timeout=120)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            connection.close()

    def _record(self, seen: Seen) -> Fault | None:
        with self._lock:
            self.seen.append(seen)
            for fault in self.faults:
                if fault.take(seen):
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects

    def log_message(self, *_: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        found = _SIGNING_NAME.search(headers.get("authorization", ""))
        service = found.group(1) if found else ""
        seen = Seen(
            service,
            operation_of(self.command, path, query, headers, body),
            self.command,
            path,
            query,
            headers,
            body,
        )
        status, reason, response_headers, payload = self.owner._forward(
            self.command, self.path, list(self.headers.items()), body
        )
        fault = self.owner._record(seen)
        if fault is not None and fault.action in ("drop", "reset"):
            if fault.action == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.close_connection = True
            return  # no answer at all: the client sees the connection end
        if fault is not None and fault.action == "status":
            status, reason, response_headers, payload = _error(seen, fault.status)
        if fault is not None and fault.action == "delay":
            time.sleep(fault.seconds)
        try:
            self.send_response(status, reason)
            for name, value in response_headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() not in (
                    "content-length",
                    "date",
                    "server",
                ):
                    self.send_header(name, value)
            length = len(payload)
            if self.command == "HEAD":
                length = int(
                    dict((k.lower(), v) for k, v in response_headers).get("content-length", 0)
                )
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (read timeout)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


def _error(seen: Seen, status: int) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """A 5xx answer in the service's own protocol."""
    reason = http.client.responses.get(status, "Error")
    if seen.service == "s3":
        body = (
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
            b"<Message>We encountered an internal error. Please try again.</Message></Error>"
        )
        return status, reason, [("Content-Type", "application/xml")], body
    if seen.service in ("iam", "sts"):
        body = (
            b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
            b"<Message>Service unavailable</Message></Error></ErrorResponse>"
        )
        return status, reason, [("Content-Type", "text/xml")], body
    code = "ServerException" if seen.service == "batch" else "ServiceUnavailableException"
    body = json.dumps({"__type": code, "message": "Service unavailable"}).encode()
    return status, reason, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)], body
