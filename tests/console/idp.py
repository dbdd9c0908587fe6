"""A real OpenID provider on loopback: panva's certified ``oidc-provider``, run by node.

``tests/console/node`` holds its ``package.json`` and lock file; ``make
console-node`` (part of ``make test``) installs it there with npm, and does
nothing when ``node_modules`` is present (so an offline machine that has it
still runs the tests). The provider's development login page accepts any
password for the logins ``ACCOUNTS`` lists; their claims carry the groups
the console maps to roles (``console_config``).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Page

NODE_DIR = Path(__file__).parent / "node"
STAFF_CLIENT = "console-staff"
ORG_CLIENTS = {"acme-de": "console-acme", "shop-us": "console-shop"}
ACCOUNTS: dict[str, dict[str, Any]] = {
    "eng-us-1": {"roles": ["support-engineers"]},
    "ops-1": {"roles": ["support-ops"]},
    "adm-1": {"roles": ["platform-admins"]},
    "cust-admin-1": {"roles": ["broker-admins"], "org": "acme-de"},
    "shop-admin-1": {"roles": ["broker-admins"], "org": "shop-us"},
    "nobody-1": {"roles": ["marketing"]},
    "acme-spy-1": {"roles": ["broker-admins"], "org": "shop-us"},
}


@dataclass(frozen=True, slots=True)
class IdP:
    """The running provider's issuer URL."""

    issuer: str


def free_port() -> int:
    """A loopback port free right now (the IdP must know the console's redirect URI first)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def console_config(idp: IdP) -> dict[str, Any]:
    """The ``[console]`` table of a broker that trusts ``idp`` for staff and two orgs."""
    return {
        "staff": {
            "issuer": idp.issuer,
            "client_id": STAFF_CLIENT,
            "scopes": ["openid", "roles"],
            "roles": {
                "support-engineers": "engineer",
                "support-ops": "ops",
                "platform-admins": "admin",
            },
        },
        "orgs": [
            {
                "org": org,
                "issuer": idp.issuer,
                "client_id": client,
                "scopes": ["openid", "roles", "org"],
                "roles": {"broker-admins": "customer_admin"},
            }
            for org, client in ORG_CLIENTS.items()
        ],
    }


@asynccontextmanager
async def running_idp(console_port: int, tmp_path: Path) -> AsyncIterator[IdP]:
    """The provider, its clients redirecting to the console on ``console_port``."""
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("oidc-provider is not installed: run `make console-node`")
    callback = f"http://127.0.0.1:{console_port}/console/auth/callback"
    clients = [STAFF_CLIENT, *ORG_CLIENTS.values()]
    config = {
        "clients": [{"client_id": c, "redirect_uris": [callback]} for c in clients],
        "accounts": ACCOUNTS,
    }
    path = tmp_path / "idp.json"
    path.write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        "node", "idp.mjs", str(path), cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.startswith(b"listening "), line
        yield IdP(f"http://127.0.0.1:{int(line.split()[1])}")
    finally:
        process.terminate()
        await process.wait()


async def oidc_login(page: Page, console: str, button: str, login: str) -> None:
    """From the console's sign-in page (``console``: its origin) through the provider's
    development login and consent pages, as ``login``."""
    await page.goto(f"{console}/console/signin")
    await page.get_by_role("link", name=button).click()
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("any")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_load_state()
