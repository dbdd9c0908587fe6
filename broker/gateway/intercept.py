"""The asyncssh connection internals the gateway hooks (asyncssh is pinned).

asyncssh offers no public hook for three things the gateway needs:

- seeing the certificate a client presents (serial, principals) before
  accepting it, and refusing after its signature verified (the store's
  ``mark_connected`` is the last, atomic check);
- auditing a refused agent-forwarding request (``-A``);
- auditing a refused X11 request (``-X``);
- auditing forwarding requests asyncssh refuses on its own (the session
  certificate does not permit port forwarding, so asyncssh answers before
  ``SSHServer.connection_requested`` / ``server_requested`` are asked).

So we wrap a few methods on each server connection *instance*: asyncssh
dispatches packets with ``getattr(self, "_process_<type>_...")``, which finds
instance attributes. The wrappers add the audit event and either refuse
unconditionally or call the original, which refuses (the ``SSHServer``
hooks refuse too, for certificates that permit more). ``check_supported``
fails closed at start-up if an asyncssh upgrade renamed any of them, and the
tests exercise every hook through the real OpenSSH client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncssh

FORWARDING: dict[str, str] = {
    "_process_direct_tcpip_open": "direct-tcpip",
    "_process_tcpip_forward_global_request": "tcpip-forward",
    "_process_direct_streamlocal_at_openssh_dot_com_open": "direct-streamlocal",
    "_process_streamlocal_forward_at_openssh_dot_com_global_request": "streamlocal-forward",
    "_process_tun_at_openssh_dot_com_open": "tun",
}
"""asyncssh packet handler -> the ``egress.blocked`` kind it is audited as."""

HOOKED = (
    "validate_public_key",
    "create_agent_listener",
    "attach_x11_listener",
    *FORWARDING,
)


class AuthHooks(Protocol):
    """What the wrapped connection calls back into."""

    async def precheck(self, login: str, blob: bytes) -> bool:
        """Vet a presented key or certificate before asyncssh looks at it."""
        ...

    async def accepted(self, login: str) -> bool:
        """The signature verified; claim the session (False still refuses)."""
        ...

    def denied(self, kind: str, detail: str | None = None) -> None:
        """A request of ``kind`` was refused."""
        ...


def check_supported() -> None:
    """Raise ``RuntimeError`` unless asyncssh still has every hooked method."""
    missing = [name for name in HOOKED if not hasattr(asyncssh.SSHServerConnection, name)]
    if missing:
        raise RuntimeError(f"asyncssh lacks hooked methods: {', '.join(missing)}")


def install(conn: asyncssh.SSHServerConnection, hooks: AuthHooks) -> None:
    """Wrap the hooked methods of one connection."""
    original: Callable[[str, bytes, bytes, bytes], Awaitable[bool]] = conn.validate_public_key

    async def validate_public_key(login: str, blob: bytes, msg: bytes, signature: bytes) -> bool:
        if not await hooks.precheck(login, blob):
            return False
        if not await original(login, blob, msg, signature):
            return False
        # Without ``msg`` this is only the client asking whether the key would do.
        return not msg or await hooks.accepted(login)

    async def create_agent_listener() -> bool:
        hooks.denied("auth-agent")
        return False

    async def attach_x11_listener(*_args: Any) -> None:
        hooks.denied("x11")

    setattr(conn, "validate_public_key", validate_public_key)  # noqa: B010
    setattr(conn, "create_agent_listener", create_agent_listener)  # noqa: B010
    setattr(conn, "attach_x11_listener", attach_x11_listener)  # noqa: B010
    for name, kind in FORWARDING.items():
        setattr(conn, name, _audited(getattr(conn, name), kind, hooks))


def _audited(handler: Callable[..., Any], kind: str, hooks: AuthHooks) -> Callable[..., Any]:
    """``handler`` preceded by an ``egress.blocked`` event of ``kind``."""

    def wrapper(*args: Any) -> Any:
        hooks.denied(kind)
        return handler(*args)

    return wrapper
