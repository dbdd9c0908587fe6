"""The asyncssh packet-logging fix: no formatting unless packets are logged, else unchanged."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar

import asyncssh
import pytest
from asyncssh.logging import logger as asyncssh_logger
from asyncssh.packet import SSHPacketLogger

from broker.gateway.tuning import PACKET_LOG_LEVEL, skip_unlogged_packet_formatting


class _Packets(SSHPacketLogger):
    """A packet handler with asyncssh's own logger, as channels and connections have."""

    _handler_names: ClassVar[Mapping[int, str]] = MappingProxyType({94: "MSG_CHANNEL_DATA"})

    @property
    def logger(self) -> asyncssh.logging.SSHLogger:
        return asyncssh_logger


class _Unreadable(bytes):
    """A payload that fails if anything measures it: proves nothing was formatted."""

    def __len__(self) -> int:
        raise AssertionError("the packet was formatted although nothing logs it")


@pytest.fixture
def debug_level() -> Iterator[None]:
    """Restore asyncssh's debug level after the test."""
    yield
    asyncssh.set_debug_level(1)


class TestSkipUnloggedPacketFormatting:
    """The wrapper asks asyncssh's debug level before any work."""

    def test_installed_once(self) -> None:
        """Installing twice leaves one wrapper, and it reports itself in place."""
        assert skip_unlogged_packet_formatting()
        wrapper = SSHPacketLogger._log_packet
        assert skip_unlogged_packet_formatting()
        assert SSHPacketLogger._log_packet is wrapper

    def test_no_formatting_below_packet_level(self, debug_level: None) -> None:
        """At asyncssh's default level a packet is not measured or formatted."""
        skip_unlogged_packet_formatting()
        asyncssh.set_debug_level(PACKET_LOG_LEVEL - 1)
        _Packets().log_received_packet(94, 7, _Unreadable(b"data"))

    def test_packets_still_logged_at_packet_level(
        self, debug_level: None, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With packet logging on, asyncssh logs the packet as it always did."""
        skip_unlogged_packet_formatting()
        asyncssh.set_debug_level(PACKET_LOG_LEVEL)
        with caplog.at_level(logging.DEBUG, logger="asyncssh"):
            _Packets().log_received_packet(94, 7, b"data")
        assert "Received MSG_CHANNEL_DATA (94), 4 bytes" in caplog.text
