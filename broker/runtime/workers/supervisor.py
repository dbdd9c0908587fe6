"""Start the API worker processes on one port, restart any that dies, stop them.

Each worker is ``python -m broker.runtime.workers FD HANDOFF``: FD is its end of a
socketpair for messages, HANDOFF its end of the pair the main process passes
accepted connections over (``broker.runtime.workers.handoff``); everything else
(config, gateways) comes as the ``setup`` message, so nothing secret sits on
a command line. The main process owns the listening socket and starts
accepting once every worker is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from dataclasses import asdict
from typing import Any

import structlog

from broker.config import Config, config_to_mapping
from broker.errors import UnavailableError
from broker.runtime.workers.handoff import Dealer, handoff_pair
from broker.runtime.workers.hub import EventHub, WorkerLink
from broker.service.context import GatewayAddress
from broker.typing import Region

log = structlog.get_logger("broker.runtime.workers")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
RESTART_DELAY = 1.0
"""A worker that died is replaced after this pause (so a crash loop cannot spin)."""


LISTEN_BACKLOG = 1024


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


class ApiWorkers:
    """``config.api_processes`` worker processes serving the API on one port."""

    def __init__(
        self, config: Config, hub: EventHub, gateways: dict[Region, GatewayAddress]
    ) -> None:
        self._config = config
        self._hub = hub
        self._gateways = gateways
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._serving: list[asyncio.Task[None]] = []  # the hub reading each worker
        self._keepers: list[asyncio.Task[None]] = []  # each slot's restarter
        self._stopping = False
        self._dealer: Dealer | None = None
        self._accepting: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def pids(self) -> list[int]:
        """The running workers' process ids."""
        return [p.pid for p in self._processes.values() if p.returncode is None]

    async def start(self) -> int:
        """Start every worker, then accept; returns the API port."""
        listener = listening_socket(self._config.bind_host, self._config.api_port)
        self.port = listener.getsockname()[1]
        self._dealer = Dealer(listener)
        try:
            await asyncio.gather(*(self._spawn(s) for s in range(self._config.api_processes)))
        except BaseException:
            await self.stop()
            raise
        self._accepting = asyncio.get_running_loop().create_task(self._dealer.serve())
        return self.port

    async def stop(self) -> None:
        """Ask every worker to finish (SIGTERM), then kill any that lingers.

        The hub keeps reading until each worker has exited: the requests a
        worker finishes while it stops send their events last.
        """
        self._stopping = True
        if self._accepting is not None:  # stop accepting before the socket closes
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._dealer is not None:
            self._dealer.close()  # no new connections from here on
        for task in self._keepers:
            task.cancel()
        for process in self._processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self._processes.values():
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        await self._finish_reading()

    async def _finish_reading(self) -> None:
        """Let the hub read every worker's last events (each ends at its EOF)."""
        if not self._serving:
            return
        _, unread = await asyncio.wait(self._serving, timeout=STOP_TIMEOUT)
        for task in unread:
            task.cancel()

    async def _spawn(self, slot: int) -> None:
        """Start the worker of ``slot``, wait until it is ready, then deal to it (or kill it)."""
        ours, theirs = socket.socketpair()
        deal_to, take_from = handoff_pair()
        fds = (theirs.fileno(), take_from.fileno())
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "broker.runtime.workers", *map(str, fds),
                pass_fds=fds, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
            take_from.close()
        try:
            await self._start_serving(slot, process, ours)
        except BaseException:  # not ready, or stopped meanwhile: it gets no connection
            deal_to.close()
            raise
        assert self._dealer is not None  # start() made it first
        self._dealer.attach(slot, deal_to)
        self._keepers.append(asyncio.get_running_loop().create_task(self._keep(slot)))

    async def _start_serving(
        self, slot: int, process: asyncio.subprocess.Process, ours: socket.socket
    ) -> None:
        """Read the worker of ``slot``, send its setup and wait until it is ready (or kill it)."""
        link: WorkerLink = await WorkerLink.over(ours)
        self._processes[slot] = process
        self._serving.append(asyncio.get_running_loop().create_task(self._hub.serve(link)))
        link.send(self._setup())
        try:
            await self._wait_ready(link, process)
        except UnavailableError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise

    async def _wait_ready(self, link: WorkerLink, process: asyncio.subprocess.Process) -> None:
        exited = asyncio.ensure_future(process.wait())
        try:
            done, _ = await asyncio.wait(
                {link.ready, exited}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            exited.cancel()
        if link.ready not in done:
            raise UnavailableError("api_worker_start", "an API worker process did not start")
        log.info("api_worker.started", pid=link.ready.result())

    async def _keep(self, slot: int) -> None:
        """Replace the worker of ``slot`` whenever it exits while the instance runs."""
        code: int | None = await self._processes[slot].wait()
        if self._dealer is not None:
            self._dealer.detach(slot)
        while self._running():
            log.error("api_worker.exited", returncode=code)
            await asyncio.sleep(RESTART_DELAY)
            if not self._running():
                return
            try:
                await self._spawn(slot)  # its own _keep takes over
                return
            except UnavailableError:
                code = self._processes[slot].returncode

    def _running(self) -> bool:
        return not self._stopping

    def _setup(self) -> dict[str, Any]:
        gateways = {region: asdict(address) for region, address in self._gateways.items()}
        config = config_to_mapping(self._config)
        return {"kind": "setup", "config": config, "gateways": gateways}
