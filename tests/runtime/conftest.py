"""Local stand-ins for the endpoints a container gets its credentials from (the ECS/EKS
container endpoint, EC2 instance metadata): plain HTTP servers on 127.0.0.1 that answer
what those services answer and record what they were asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# (method, path, headers) -> (status, body) or (status, body, headers); headers lower-cased.
Route = Callable[[str, str, dict[str, str]], tuple]


@dataclass
class StandIn:
    url: str
    route: Route
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def standin() -> Iterator[Callable[[Route], StandIn]]:
    servers: list[ThreadingHTTPServer] = []

    def start(route: Route) -> StandIn:
        state = StandIn("", route)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                state.requests.append((self.command, self.path, headers))
                status, body, *more = state.route(self.command, self.path, headers)
                self.send_response(status)
                for name, value in (more[0] if more else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = _answer

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
