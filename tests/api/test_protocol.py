"""aiohttp's own protocol errors, over raw sockets against the live app: problem+json, no echo."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

MARKER = "Zq7xEchoMe"
"""A string that must never come back: every request below carries it."""

BAD_REQUESTS = {
    "url too long": f"GET /{MARKER}{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n",
    "header too long": f"GET / HTTP/1.1\r\nHost: x\r\nX-{MARKER}: {'b' * 9000}\r\n\r\n",
    "header name too long": f"GET / HTTP/1.1\r\nHost: x\r\nX{MARKER * 900}: 1\r\n\r\n",
    "malformed request line": f"GET /{MARKER} HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "bad method": f"G{MARKER}(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version": f"GET /{MARKER} HTTP/9.Z\r\nHost: x\r\n\r\n",
    "not http": f"\x16\x03\x01{MARKER}\r\n\r\n",
    "bad header line": f"GET / HTTP/1.1\r\nHost: x\r\n{MARKER} no colon\r\n\r\n",
    "bad content length": f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {MARKER}\r\n\r\n",
    "too many headers": "GET / HTTP/1.1\r\nHost: x\r\n"
    + "".join(f"X-{MARKER}-{i}: 1\r\n" for i in range(200))
    + "\r\n",
    "control character in header": f"GET / HTTP/1.1\r\nHost: x\r\nX-A: {MARKER}\x00\r\n\r\n",
    "length and chunked": (
        f"POST /v1/import HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n{MARKER}"
    ),
    "http2 preface": f"PRI * HTTP/2.0\r\n\r\nSM{MARKER}\r\n\r\n",
    "bad chunk": (
        f"POST /v1/import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{MARKER}\r\n\r\n"
    ),
}


async def exchange(port: int, raw: str) -> bytes:
    """Send ``raw`` on a new connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw.encode("latin-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def split_response(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a raw HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_problem_without_echo(answer: bytes) -> None:
    """A 4xx problem+json answer with type, title and status, and nothing of ``MARKER``."""
    status, headers, body = split_response(answer)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"] == "urn:broker:error:http_protocol"
    assert problem["title"]
    assert MARKER.encode() not in answer
    assert MARKER.lower().encode() not in answer.lower()


class TestProtocolErrors:
    """Requests aiohttp refuses before routing get the same kind of answer as ours."""

    @pytest.mark.parametrize("raw", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
    async def test_problem_json_without_echo(self, api, raw, caplog, capfd):
        """A 4xx problem+json body with type, title and status; nothing of the request in it,
        nor in any log line."""
        caplog.set_level(logging.DEBUG)
        assert_problem_without_echo(await exchange(api.client.server.port, raw))
        logged = caplog.text + "".join(capfd.readouterr())
        assert "api.protocol_error" in logged
        assert MARKER not in logged

    async def test_good_request_on_the_same_server_still_works(self, api):
        """The swapped protocol serves ordinary requests as before."""
        answer = await exchange(
            api.client.server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        status, _, body = split_response(answer)
        assert status == 200
        assert json.loads(body) == {"status": "ok"}


class TestMethodNotAllowed:
    """A method the route does not serve: 405 problem+json that says what is allowed."""

    async def test_allow_header_kept(self, api):
        """The problem body replaces aiohttp's, and its Allow header stays (RFC 9110)."""
        response = await api.client.request("TRACE", "/v1/sessions")
        assert response.status == 405
        assert response.content_type == "application/problem+json"
        assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
