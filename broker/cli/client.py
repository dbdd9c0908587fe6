"""A small synchronous HTTP client for the CLI, over the standard library.

The CLI is a thin layer over the API: it finds the instance (``--api``,
``BROKER_API``, ``<state>/endpoints.json`` of ``broker run`` or
``<state>/endpoints.api.json`` of ``broker api``), sends JSON with a bearer token,
and turns problem+json answers back into ``BrokerError`` with the server's
reason, so the user sees the same message the API gave.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.errors import AuthenticationError, BrokerError, InputError, UnavailableError

TIMEOUT_SECONDS = 30


def state_dir(explicit: str | None) -> Path:
    """``--state``, else ``BROKER_STATE``, else ``./var``."""
    return Path(explicit or os.environ.get("BROKER_STATE") or "var")


def endpoints(state: Path) -> dict[str, Any]:
    """The running instance's ``endpoints.json`` (or the control plane's ``endpoints.api.json``)."""
    path = state / "endpoints.json"
    if not path.exists() and (state / "endpoints.api.json").exists():
        path = state / "endpoints.api.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnavailableError(
            "not_running", f"no running broker found at {path} (start it: make run)"
        ) from error
    return data


def api_url(explicit: str | None, state: Path) -> str:
    """``--api``, else ``BROKER_API``, else the local instance's address."""
    url = explicit or os.environ.get("BROKER_API")
    return (url or str(endpoints(state)["api"])).rstrip("/")


@dataclass(frozen=True, slots=True)
class ApiClient:
    """Calls the broker API with one bearer token."""

    base: str
    token: str | None

    def call(self, method: str, path: str, body: object | None = None) -> Any:
        """Send one request; the decoded JSON answer, or the problem as an error."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310  # the URL is the configured broker's
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  # see above
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise _problem_error(error) from None
        except (urllib.error.URLError, OSError) as error:
            # Nothing answered, so there is no problem document: say what the API would
            # have said (503: unavailable, nothing granted) and why the call failed.
            raise UnavailableError(
                "control_plane_unavailable",
                f"cannot reach the broker API (control plane) at {self.base}"
                f" (503 unavailable: {_cause(error)}): live sessions go on; new grants wait for it",
            ) from error


def _cause(error: OSError) -> str:
    """Why a call got no answer, in a few words (``connection refused``, ``timed out``)."""
    found = getattr(error, "reason", error)
    text = getattr(found, "strerror", None) or str(found) or type(found).__name__
    return str(text).lower()


class ApiError(BrokerError):
    """An error answer from the API, carrying its problem fields."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(
            str(problem.get("code", "http_error")), str(problem.get("detail", f"HTTP {status}"))
        )
        self.http_status = status
        self.problem = problem


def _problem_error(error: urllib.error.HTTPError) -> BrokerError:
    try:
        problem = json.loads(error.read())
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    if error.code == 401:
        return AuthenticationError(
            str(problem.get("code", "unauthenticated")), str(problem.get("detail", ""))
        )
    found = ApiError(error.code, problem)
    reasons = problem.get("reasons")
    if reasons:
        found.reason = f"{found.reason} (reasons: {', '.join(map(str, reasons))})"
    return found


def require_token(token: str | None) -> str:
    """A token from ``--token`` or ``BROKER_TOKEN``."""
    found = token or os.environ.get("BROKER_TOKEN")
    if not found:
        raise InputError("token", "pass --token or set BROKER_TOKEN (mint one with: broker token)")
    return found
