"""One API worker process: the whole HTTP API, with events sent to the main process.

It opens its own store connection and region CAs from the same state
folder, verifies tokens as the main process would, and serves the API
connections the main process accepts and passes to it
(``broker.runtime.workers.handoff``). It stops on SIGTERM, or when the main process
goes away (no audit, no service). SIGINT is left to the main process, which
stops the workers in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any

import structlog
from aiohttp import web

from broker.api.app import create_app
from broker.api.protocol import answer_problems
from broker.audit import Auditor
from broker.audit.log import configure_logging
from broker.ca import CARegistry
from broker.clock import SystemClock
from broker.config import Config, config_from_mapping
from broker.keys import LocalKeyStore
from broker.metrics import Metrics
from broker.notify.build import build_notifier
from broker.policy import PolicyConfig
from broker.runtime.gc_pauses import freeze_startup_objects
from broker.runtime.parts import local_store, token_verifier
from broker.runtime.workers.handoff import adopter, receive_connections
from broker.runtime.workers.sink import MainLink
from broker.service.context import Context, GatewayAddress
from broker.shutdown import until_sigterm_or
from broker.typing import Region

log = structlog.get_logger("broker.runtime.workers")


def main(argv: list[str]) -> int:
    """``python -m broker.runtime.workers FD HANDOFF``: serve until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve(int(argv[0]), int(argv[1])))
    return 0


async def serve(fd: int, handoff: int) -> None:
    """Take the setup from the main process, then serve the connections it passes."""
    link: MainLink = await MainLink.over(socket.socket(fileno=fd))
    setup = await link.setup()
    config = config_from_mapping(setup["config"])
    auditor = Auditor(config.state_dir, SystemClock())
    configure_logging(redactor=auditor.redactor, stream=sys.stderr)
    ctx = _context(config, link, setup["gateways"])
    notifier = build_notifier(config, link, SystemClock())  # local mode: webhooks only
    ctx.notifier = notifier
    metrics = Metrics()
    verifier = token_verifier(config, SystemClock())
    app = create_app(ctx, verifier, auditor, metrics, peers=link)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None  # made by setup()
    answer_problems(runner.server)
    connections = receive_connections(socket.socket(fileno=handoff), adopter(runner.server))
    tasks = [
        asyncio.create_task(link.listen()),
        asyncio.create_task(link.push_metrics(metrics)),
        asyncio.create_task(connections),
    ]
    try:
        freeze_startup_objects()
        link.send({"kind": "ready", "pid": os.getpid()})
        await _until_stopped(link)
    finally:
        await runner.cleanup()
        await notifier.aclose()
        for task in tasks:
            task.cancel()
        await ctx.store.close()
        await link.close()


def _context(config: Config, link: MainLink, gateways: dict[str, Any]) -> Context:
    clock = SystemClock()
    store = local_store(config, clock)
    cas = CARegistry(LocalKeyStore(config.state_dir), clock)
    policy = PolicyConfig.from_mapping(config.policy)
    ctx = Context(config, store, cas, link, clock, policy)
    for region, address in gateways.items():
        ctx.gateways[Region(region)] = GatewayAddress(**address)
    return ctx


async def _until_stopped(link: MainLink) -> None:
    """Return on SIGTERM or when the main process has gone."""
    if not await until_sigterm_or(link.lost.wait()):
        log.error("api_worker.main_gone", reason="no audit trail to write to: stopping")
