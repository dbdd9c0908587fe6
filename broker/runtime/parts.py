"""The parts every API process builds alike from the config: the store and the token verifier.

The main process (``root``) and each API worker process (``workers.worker``)
open the same store file and verify tokens the same way; both take them from here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from broker.auth.jwks import JwksVerifier
from broker.auth.local import LocalAuthority, build_verifier
from broker.clock import Clock
from broker.config import Config
from broker.store.sqlite.store import SqliteStore


def local_store(config: Config, clock: Clock) -> SqliteStore:
    """The SQLite store in the state folder (every API process opens this one file)."""
    return SqliteStore(config.layout.database, clock=clock)


def token_verifier(config: Config, clock: Clock) -> JwksVerifier | LocalAuthority:
    """Local signing, or an issuer and its JWKS, as the config says."""
    return build_verifier(config.state_dir, clock=clock, **_auth_options(config))


def _auth_options(config: Config) -> dict[str, Any]:
    common = {
        "audience": config.auth.audience,
        "max_lifetime": timedelta(seconds=config.auth.max_token_lifetime_seconds),
    }
    if config.mode == "local" and config.auth.jwks_file is None:
        return common
    return {"issuer": config.auth.issuer, "jwks": config.auth.jwks_file, **common}
