"""A moto server on a loopback port that records which region each request named.

moto keeps its backends in-process and shared, so two servers in one process
share resources. What differs per server is the traffic it received: every
request is recorded with the service and region of its SigV4 credential
scope, which is what proves that a session's calls went only to its region's
endpoint. The server can be stopped and started again on the same port to
play an AWS outage.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

# moto's backends are shared by every server in the process and are not
# thread-safe (a transaction deep-copies a table another request is changing),
# so requests are applied one at a time: that is the linearizable behaviour
# real DynamoDB transactions guarantee, which the store's tests rely on.
_BACKEND_LOCK = threading.Lock()
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class _QuietHandler(MotoRequestHandler):
    """moto's handler without a log line per request (thousands per run)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing."""


@dataclass(frozen=True)
class Seen:
    """One request: the SigV4 scope's region and service, and the path."""

    region: str
    service: str
    method: str
    path: str


class MotoServer:
    """A restartable moto server on ``host`` (loopback by default) recording requests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.seen: list[Seen] = []
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint URL for boto3."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve (again) on the same port, or a fresh ephemeral one the first time."""
        server = make_server(
            self.host, self.port, self._record, True, request_handler=_QuietHandler
        )
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port (the state stays in moto's backends)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()

    def _record(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match:
            self.seen.append(
                Seen(match[1], match[2], environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
            )
        with _BACKEND_LOCK:
            return list(self._app(environ, start))

    def regions_seen(self) -> set[str]:
        """Every region named by a request this server received."""
        return {s.region for s in self.seen}

    def mark(self) -> int:
        """A position in the request log, for ``since``."""
        return len(self.seen)

    def since(self, mark: int) -> list[Seen]:
        """The requests received after ``mark``."""
        return self.seen[mark:]
