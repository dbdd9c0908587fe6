"""Where each org's webhook signing secret comes from.

``secret_file``: read once when the notifier is built, so a missing,
unreadable, short or group/other-readable file stops the broker at start
with an error naming the field. ``secret_name`` (AWS mode): a binary secret
in the Secrets Manager of the *notice's* region (the org's), fetched on each
attempt, so a rotated secret is used without a restart and no secret of one
region is ever read by another region's client. The secret is the file's or
secret's bytes, trailing whitespace (a newline) removed, at least 32 bytes:
``openssl rand -hex 32`` makes a good one. It is never logged.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from broker.config.notify import WebhookSettings
from broker.errors import InputError, UnavailableError
from broker.keys import KeyStore
from broker.notify.signature import MIN_SECRET_BYTES
from broker.typing import OrgId, Region


def read_secret_file(path: Path, name: str) -> bytes:
    """The secret in ``path``; ``InputError`` naming ``name`` when it is unusable."""
    try:
        mode = path.stat().st_mode
        secret = path.read_bytes().rstrip()
    except OSError as error:
        raise InputError(name, f"cannot read the file ({type(error).__name__})") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(name, "must not be accessible to group or others (chmod 600)")
    return _long_enough(secret, name)


def _long_enough(secret: bytes, name: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise InputError(name, f"the secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


class WebhookSecrets:
    """Each org's signing secret: from its file (read at start) or its region's key store."""

    def __init__(self, files: Mapping[OrgId, bytes], keys: KeyStore | None) -> None:
        self._files = dict(files)
        self._keys = keys

    @classmethod
    def load(cls, hooks: Mapping[OrgId, WebhookSettings], keys: KeyStore | None) -> WebhookSecrets:
        """Read every ``secret_file`` now (fail at start, naming the field)."""
        files = {
            org: read_secret_file(hook.secret_file, f"notify.webhooks.{org}.secret_file")
            for org, hook in hooks.items()
            if hook.secret_file is not None
        }
        named = [org for org, hook in hooks.items() if hook.secret_name is not None]
        if named and keys is None:
            raise InputError(f"notify.webhooks.{named[0]}.secret_name", "needs AWS mode")
        return cls(files, keys)

    async def get(self, hook: WebhookSettings, region: Region) -> bytes:
        """The secret of ``hook``'s org; a named one from ``region``'s key store."""
        found = self._files.get(hook.org_id)
        if found is not None:
            return found
        if self._keys is None or hook.secret_name is None:
            raise InputError(f"notify.webhooks.{hook.org_id}", "no signing secret")
        secret = await self._keys.get(region, hook.secret_name)
        if secret is None:
            raise UnavailableError("secret_missing", "the webhook secret is not stored")
        return _long_enough(secret, f"notify.webhooks.{hook.org_id}.secret_name")
