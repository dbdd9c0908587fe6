"""The control-plane role's view of the regional units, from the store alone.

``broker api`` runs no gateway: it learns where each region is served from
the store's unit registry (``broker.store.units``). ``UnitDirectory`` re-reads
the registry twice a second and keeps ``Context.gateways`` to one live,
healthy unit per region: heartbeat within ``unit_dead_after_seconds`` and its
region's storage reported writable. A region without one is dropped from the
map, and a grant there fails closed (503 ``region_unavailable``). The API
never relays a terminal byte or a recording: it hands out the unit's address
and viewer links, as ``broker run`` does for its in-process gateways.
"""

from __future__ import annotations

import asyncio
import random

import structlog

from broker.clock import Clock
from broker.errors import BrokerError
from broker.service.context import GatewayAddress
from broker.store.base import Store
from broker.store.units import UnitRecord
from broker.typing import Region

log = structlog.get_logger("broker.control")
REFRESH_SECONDS = 0.5


class UnitDirectory:
    """Keeps ``gateways`` to a live, healthy unit per region (or none)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        gateways: dict[Region, GatewayAddress],
        regions: tuple[Region, ...],
        dead_after_seconds: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._gateways = gateways
        self._regions = regions
        self._bound_ms = dead_after_seconds * 1000
        self._choice = random.SystemRandom()

    async def refresh(self) -> None:
        """Read every region's units once; a store failure drops them all (fail closed)."""
        for region in self._regions:
            try:
                units = await self._store.list_units(region)
            except BrokerError as error:
                log.warning("control.registry_unreadable", region=region, code=error.code)
                units = []
            self._pick(region, units)

    def _pick(self, region: Region, units: list[UnitRecord]) -> None:
        now = int(self._clock.now().timestamp() * 1000)
        usable = [u for u in units if u.storage_ok and u.live(now, self._bound_ms)]
        current = self._gateways.get(region)
        if not usable:
            if self._gateways.pop(region, None) is not None:
                log.warning("control.region_unserved", region=region)
            return
        if current is not None and any(_address(u) == current for u in usable):
            return  # keep a chosen unit while it lives: its clients see one address
        self._gateways[region] = _address(self._choice.choice(usable))
        log.info("control.unit_chosen", region=region, ssh=self._gateways[region].port)

    async def run(self) -> None:
        """Refresh until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(REFRESH_SECONDS)


def _address(unit: UnitRecord) -> GatewayAddress:
    host, _, port = unit.ssh.rpartition(":")
    return GatewayAddress(host, int(port), unit.host_key or None, unit.viewer or None)
