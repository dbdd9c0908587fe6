"""Viewer link tokens: made here, kept by the store only as their digest.

A token is 32 random bytes (``secrets``), URL-safe base64 without padding.
It travels in the URL *fragment* (``#t=...``), which browsers never send to
a server or put in a ``Referer``, and the page hands it over in its first
WebSocket message. The store holds its SHA-256, so a read of the store
opens nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from broker.typing import TokenDigest

TOKEN_LIFETIME_SECONDS = 60
"""An unused link expires this long after it was issued."""
TOKEN_BYTES = 32
_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> tuple[str, TokenDigest]:
    """A fresh token and its digest."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_digest(token)


def token_digest(token: str) -> TokenDigest:
    """The SHA-256 hex digest the store keys the token by."""
    return TokenDigest(hashlib.sha256(token.encode("ascii")).hexdigest())


def well_formed(token: object) -> bool:
    """Whether ``token`` has the shape ``new_token`` makes (checked before hashing)."""
    return isinstance(token, str) and _SHAPE.fullmatch(token) is not None


def viewer_link(viewer_url: str, token: str) -> str:
    """The link an engineer opens: the viewer's page with the token in the fragment."""
    return f"{viewer_url.rstrip('/')}/#t={token}"


WATCH_PREFIX = "watch:"
REPLAY_PREFIX = "replay:"
"""A link's holder is the session's engineer (their staff id), a read-only
watcher (``watch:<role>:<subject>``) or someone replaying the recording
(``replay:<role>:<subject>``): one column says who may use the link, in which
role, and that it may never type into the session."""


def watch_holder(role: str, subject: str) -> str:
    """The holder recorded for a watcher's link (roles have no colon; subjects may)."""
    return f"{WATCH_PREFIX}{role}:{subject}"


def replay_holder(role: str, subject: str) -> str:
    """The holder recorded for a replay link."""
    return f"{REPLAY_PREFIX}{role}:{subject}"


def watcher_of(holder: str) -> tuple[str, str] | None:
    """(role, id) when ``holder`` is a watcher's; None otherwise."""
    return _split(holder, WATCH_PREFIX)


def replayer_of(holder: str) -> tuple[str, str] | None:
    """(role, id) when ``holder`` is a replay link's; None otherwise."""
    return _split(holder, REPLAY_PREFIX)


def _split(holder: str, prefix: str) -> tuple[str, str] | None:
    if not holder.startswith(prefix):
        return None
    role, _, subject = holder.removeprefix(prefix).partition(":")
    return role, subject
