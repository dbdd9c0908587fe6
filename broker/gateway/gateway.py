"""``Gateway``: one region's SSH gateway, started and stopped as a unit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncssh

from broker.clock import Clock, SystemClock
from broker.events import EventSink
from broker.gateway import intercept, tuning
from broker.gateway.certs import openssh_public
from broker.gateway.context import GatewayContext, log
from broker.gateway.hooks import FilterFactory, RecorderFactory, identity_filter, null_recorder
from broker.gateway.keys import GatewayKeys
from broker.gateway.server import GatewayServer
from broker.gateway.settings import FAST_CIPHERS, GatewaySettings
from broker.gateway.upstream import InventoryUpstream, UpstreamResolver
from broker.gateway.watch_thread import WatcherThread
from broker.store.base import Store
from broker.typing import Region, UnitId

STOP_WAIT = 5.0


class Gateway:
    """An asyncssh server for one region: trusts only that region's CA."""

    def __init__(  # noqa: PLR0913 - every dependency is explicit, none has a safe global
        self,
        region: Region,
        store: Store,
        ca_public_key: bytes | str,
        keys: GatewayKeys,
        events: EventSink,
        *,
        clock: Clock | None = None,
        settings: GatewaySettings | None = None,
        output_filter: FilterFactory = identity_filter,
        recorder: RecorderFactory = null_recorder,
        upstream: UpstreamResolver | None = None,
        audit_ok: Callable[[], bool] = lambda: True,
        unit_id: UnitId | None = None,
    ) -> None:
        ca_public = openssh_public(ca_public_key)
        self.keys = keys
        self.ctx = GatewayContext(
            region=region,
            store=store,
            clock=clock or SystemClock(),
            events=events,
            settings=settings or GatewaySettings(),
            ca_public=ca_public,
            ca_key=asyncssh.import_public_key(ca_public),
            client_key=keys.client_key,
            upstream=upstream or InventoryUpstream(store, keys.client_key),
            filters=output_filter,
            recorders=recorder,
            audit_ok=audit_ok,
            unit_id=unit_id,
        )
        self._watching = WatcherThread(self.ctx)
        self.watcher = self._watching.watcher
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._flushing = contextlib.AsyncExitStack()
        self.port = 0

    @property
    def region(self) -> Region:
        """The region this gateway serves."""
        return self.ctx.region

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 picks a free port); return the bound port."""
        intercept.check_supported()
        if skipped := [name for name, ok in tuning.install_all().items() if not ok]:
            log.warning("gateway.tuning_skipped", region=self.region, skipped=skipped,
                        reason="asyncssh changed")  # fmt: skip
        await self.watcher.prime()
        self._acceptor = await asyncssh.create_server(
            lambda: GatewayServer(self.ctx), host, port, **self._server_options()
        )
        self.port = self._acceptor.get_port()
        await self._flushing.enter_async_context(self.ctx.failures.flushing())
        self._watching.start()
        log.info("gateway.listening", region=self.region, host=host, port=self.port)
        return self.port

    def _server_options(self) -> dict[str, object]:
        """Deny-by-default server settings (asyncssh's defaults allow more)."""
        return {
            "server_host_keys": [self.keys.host_key],
            "config": None,
            "login_timeout": self.ctx.settings.login_timeout,
            "password_auth": False,
            "kbdint_auth": False,
            "host_based_auth": False,
            "gss_host": None,
            "agent_forwarding": False,
            "x11_forwarding": False,
            "allow_scp": False,
            "sftp_factory": None,
            "allow_pty": True,
            "line_editor": False,
            "encoding": None,
            "encryption_algs": list(FAST_CIPHERS),
            "compression_algs": ["none"],
        }

    async def stop(self) -> None:
        """Tell every live session why, close them, and stop listening."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        await self._watching.stop()
        for link in list(self.ctx.links.values()):
            self.ctx.spawn(link.terminate("gateway_stopping"))
        await self._drain()
        await self._close_connections()
        await self._flushing.aclose()  # the last counted login failures

    async def _close_connections(self) -> None:
        """Abort what is still connected (e.g. mid-login) and wait for it to go."""
        for conn in list(self.ctx.connections):
            conn.abort()
        for _ in range(50):
            if not self.ctx.connections:
                return
            await asyncio.sleep(0.02)

    async def _drain(self) -> None:
        """Let termination and close bookkeeping finish, within a bound."""
        for _ in range(3):
            pending = set(self.ctx.tasks)
            if not pending:
                return
            _, late = await asyncio.wait(pending, timeout=STOP_WAIT)
            for task in late:
                task.cancel()
