"""The HTTP seam of the webhook channel: one POST, its status and ``Retry-After``.

``HttpTransport`` is what the webhook channel needs from HTTP and nothing
more; ``AiohttpTransport`` is the real one (tests run it against a real
loopback server, over TLS with a certificate the test made, and over plain
http in dev mode). Failures of the network or TLS are ``UnavailableError``
with a short code (``connect_error``, ``tls_error``, ``timeout``), never the
URL or the library's message (either may carry a token from a query string).
Redirects are not followed: a 3xx is an answer like any other, so a receiver
cannot bounce a signed body to another host or down to plain http.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from broker.errors import UnavailableError


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A receiver's answer: the status and the raw ``Retry-After`` header, if any."""

    status: int
    retry_after: str | None = None


class HttpTransport(Protocol):
    """POSTs one body; ``UnavailableError`` when no answer came."""

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        ca_file: Path | None,
        time_limit: float,
    ) -> HttpAnswer:
        """Send ``body`` to ``url``; ``ca_file``: trust only these CAs (else the system's)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class AiohttpTransport:
    """``HttpTransport`` on one ``aiohttp.ClientSession``, opened on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[Path, ssl.SSLContext] = {}

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        ca_file: Path | None,
        time_limit: float,
    ) -> HttpAnswer:
        """One POST, its body read and dropped (a receiver's text is never logged)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                ssl=self._context(ca_file),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=time_limit),
            ) as response:
                await response.content.readany()
                return HttpAnswer(response.status, response.headers.get("Retry-After"))
        except TimeoutError as error:
            raise UnavailableError("timeout", "the receiver did not answer in time") from error
        except (aiohttp.ClientSSLError, ssl.SSLError) as error:
            raise UnavailableError("tls_error", "TLS with the receiver failed") from error
        except (aiohttp.ClientError, OSError) as error:
            raise UnavailableError("connect_error", "the receiver could not be reached") from error

    def _context(self, ca_file: Path | None) -> ssl.SSLContext | bool:
        """The system's trust (``True``), or a context trusting ``ca_file`` alone (cached)."""
        if ca_file is None:
            return True
        found = self._contexts.get(ca_file)
        if found is None:
            found = ssl.create_default_context(cafile=str(ca_file))
            self._contexts[ca_file] = found
        return found

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
