"""A viewer page's socket, driven from the client namespace like a browser would.

``python -m tests.residency.viewer_client LINK`` connects to the link's
region viewer with the page's Origin, says hello with the fragment's token,
waits for ``ready``, types each line of stdin (``\\r`` for Enter), then reads
until the server ends the session. It prints one JSON line: the control
message types it got, the end reason and how many frames (images) came.
Screen text never arrives here: that is the viewer's point, and why the
test finds its canary in the region's recording upload, not on this link.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp

WAIT = 60.0


async def drive(link: str, lines: list[str]) -> dict[str, Any]:
    """Open the page's socket, type ``lines``, read to the end; what came back."""
    base = link.split("/#", 1)[0]
    token = link.split("#", 1)[1]  # all of the fragment, as the page sends it
    seen: dict[str, Any] = {"controls": [], "frames": 0, "end": None}
    async with aiohttp.ClientSession() as http, asyncio.timeout(WAIT):
        ws = await http.ws_connect(f"{base}/ws", origin=base)
        await ws.send_str(json.dumps({"type": "hello", "token": token}))
        typed = False
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                seen["frames"] += 1
                continue
            control = json.loads(message.data)
            seen["controls"].append(control["type"])
            if control["type"] == "end":
                seen["end"] = control.get("reason")
            if control["type"] == "ready" and not typed:
                typed = True
                for line in lines:
                    await ws.send_str(json.dumps({"type": "input", "data": line + "\r"}))
    return seen


def main() -> None:
    """Drive the link in argv[1] with stdin's lines; print what came back as JSON."""
    lines = [line for line in sys.stdin.read().splitlines() if line]
    print(json.dumps(asyncio.run(drive(sys.argv[1], lines))))


if __name__ == "__main__":
    main()
