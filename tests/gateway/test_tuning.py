"""The asyncssh speed fixes: less work per packet, the same bytes and packets to the peer."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar

import asyncssh
import pytest
from asyncssh.connection import SSHConnection
from asyncssh.crypto.cipher import GCMCipher
from asyncssh.encryption import get_encryption, get_encryption_params
from asyncssh.logging import logger as asyncssh_logger
from asyncssh.packet import SSHPacketLogger
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.gateway import tuning
from broker.gateway.settings import FAST_CIPHERS
from broker.gateway.tuning import (
    INPUT_SLICE,
    PACKET_LOG_LEVEL,
    feed_input_in_slices,
    install,
    install_all,
    reuse_gcm_key_schedule,
    skip_ignore_packets_with_aead,
    skip_unlogged_packet_formatting,
)


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


class _Parser:
    """Stands in for an ``SSHConnection`` as asyncssh's ``data_received`` uses it."""

    def __init__(self, close_after: int | None = None) -> None:
        self._inpbuf = b""
        self._transport: object | None = object()
        self.seen: list[int] = []
        self.close_after = close_after

    def _recv_data(self) -> None:
        self.seen.append(len(self._inpbuf))
        if self.close_after is not None and len(self.seen) >= self.close_after:
            self._transport = None


class TestInstall:
    """Each fix goes in once, and not at all if asyncssh lacks the method."""

    def test_missing_method_changes_nothing(self) -> None:
        """A renamed asyncssh method: False, and the class is untouched."""

        class Renamed:
            pass

        assert not install(Renamed, "data_received", lambda original: original)
        assert not hasattr(Renamed, "data_received")

    def test_all_fixes_in_place(self) -> None:
        """Against the pinned asyncssh every fix installs, each once."""
        assert install_all() == {
            "skip_unlogged_packet_formatting": True,
            "feed_input_in_slices": True,
            "skip_ignore_packets_with_aead": True,
            "reuse_gcm_key_schedule": True,
        }
        wrapper = SSHConnection.send_packet
        install_all()
        assert SSHConnection.send_packet is wrapper


class TestFeedInputInSlices:
    """asyncssh parses a large read slice by slice: same bytes, same order."""

    @pytest.mark.parametrize("size", [1, INPUT_SLICE, INPUT_SLICE + 1, 10 * INPUT_SLICE + 7])
    def test_every_byte_in_order(self, size: int) -> None:
        """The parser's buffer ends as the whole read, grown a slice at a time."""
        feed_input_in_slices()
        parser, data = _Parser(), bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        SSHConnection.data_received(parser, data)  # type: ignore[arg-type]
        assert parser._inpbuf == data
        assert parser.seen == [
            min(n, size) for n in range(INPUT_SLICE, size + INPUT_SLICE, INPUT_SLICE)
        ]

    def test_stops_once_closed(self) -> None:
        """A packet that closes the connection ends the parsing of the read."""
        feed_input_in_slices()
        parser = _Parser(close_after=2)
        SSHConnection.data_received(parser, b"a" * (5 * INPUT_SLICE))  # type: ignore[arg-type]
        assert parser.seen == [INPUT_SLICE, 2 * INPUT_SLICE]


class _NoAuth(asyncssh.SSHServer):
    """A loopback test server that lets anyone in."""

    def begin_auth(self, username: str) -> bool:
        return False


async def _ignores_sent(cipher: str, caplog: pytest.LogCaptureFixture) -> tuple[int, bytes]:
    """Ignore packets a client sends while 64 KiB of input round-trips (and the echo).

    Every fix is in place on both ends, so this is also their test over a real
    connection: large reads are sliced, GCM packets sealed and opened by them.
    """
    install_all()
    key = asyncssh.generate_private_key("ssh-ed25519")

    async def echo(process: asyncssh.SSHServerProcess[bytes]) -> None:
        process.stdout.write(await process.stdin.readexactly(65536))
        process.exit(0)

    server = await asyncssh.create_server(
        _NoAuth, "127.0.0.1", 0, server_host_keys=[key], process_factory=echo,
        encoding=None, encryption_algs=[cipher], allow_pty=False,
    )  # fmt: skip
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect(
            "127.0.0.1", port, known_hosts=None, username="u", client_keys=None,
            password=None, preferred_auth="none", encryption_algs=[cipher], config=None,
        ) as conn:  # fmt: skip
            asyncssh.set_debug_level(PACKET_LOG_LEVEL)
            with caplog.at_level(logging.DEBUG, logger="asyncssh"):
                result = await conn.run(input=b"k" * 65536, encoding=None, check=True)
    finally:
        asyncssh.set_debug_level(1)
        server.close()
    assert isinstance(result.stdout, bytes)
    return caplog.text.count("Sent MSG_IGNORE"), result.stdout


class TestSkipIgnorePacketsWithAead:
    """No empty ignore packet before each packet on AEAD ciphers; CBC-era ciphers keep it."""

    @pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"])
    async def test_none_with_aead(self, cipher: str, caplog: pytest.LogCaptureFixture) -> None:
        """A whole session's traffic goes without one ignore packet, and arrives intact."""
        skip_ignore_packets_with_aead()
        ignores, echoed = await _ignores_sent(cipher, caplog)
        assert (ignores, echoed) == (0, b"k" * 65536)

    async def test_kept_with_ctr(self, caplog: pytest.LogCaptureFixture) -> None:
        """aes128-ctr: asyncssh still sends its ignore packets, as without the fix."""
        skip_ignore_packets_with_aead()
        ignores, echoed = await _ignores_sent("aes128-ctr", caplog)
        assert ignores > 2
        assert echoed == b"k" * 65536

    @pytest.mark.parametrize("cipher", FAST_CIPHERS)
    def test_gateway_ciphers_classified(self, cipher: str) -> None:
        """asyncssh's encryption for each gateway cipher: GCM and ChaCha20 are AEAD, CTR not."""
        alg, mac = cipher.encode(), b"hmac-sha2-256"
        key_size, iv_size, _, mac_key_size, _, _ = get_encryption_params(alg, mac)
        encryption = get_encryption(alg, bytes(key_size), bytes(iv_size), mac, bytes(mac_key_size))
        aead = cipher.startswith(("aes128-gcm", "aes256-gcm", "chacha20-poly1305"))
        assert isinstance(encryption, tuning.AEAD_ENCRYPTIONS) == aead


def _nonce(iv: bytes, step: int) -> bytes:
    """RFC 5647: the fixed 4 bytes, then the invocation counter plus ``step``."""
    return iv[:4] + ((int.from_bytes(iv[4:], "big") + step) % 2**64).to_bytes(8, "big")


class TestReuseGcmKeySchedule:
    """One ``AESGCM`` per cipher; every packet sealed and opened as RFC 5647 says."""

    KEY = bytes(range(16))
    IV = bytes(4) + (2**64 - 2).to_bytes(8, "big")  # the counter wraps on the second packet

    def test_seals_with_stepping_nonces(self) -> None:
        """Three packets: ciphertext and tag match AESGCM with nonces n, n+1, n+2 (wrapping)."""
        reuse_gcm_key_schedule()
        cipher = GCMCipher("aes128-gcm", self.KEY, self.IV)
        built: AESGCM | None = None
        for step, data in enumerate((b"first packet", b"\x00" * 4096, b"third")):
            header = len(data).to_bytes(4, "big")
            sealed, tag = cipher.encrypt_and_sign(header, data)
            expected = AESGCM(self.KEY).encrypt(_nonce(self.IV, step), data, header)
            assert (sealed, tag) == (header + expected[:-16], expected[-16:])
            built = built if step else vars(cipher)["_broker_aead"]
            assert vars(cipher)["_broker_aead"] is built  # one key schedule for all three

    def test_opens_what_it_sealed(self) -> None:
        """A receiving cipher with the same key and IV opens each packet in turn."""
        reuse_gcm_key_schedule()
        sender = GCMCipher("aes256-gcm", self.KEY * 2, self.IV)
        receiver = GCMCipher("aes256-gcm", self.KEY * 2, self.IV)
        for data in (b"one", b"two" * 1000):
            header = len(data).to_bytes(4, "big")
            sealed, tag = sender.encrypt_and_sign(header, data)
            assert receiver.verify_and_decrypt(header, sealed[4:], tag) == data

    def test_tampered_packet_is_refused(self) -> None:
        """A flipped bit gives None (asyncssh's MAC error), and the next packet still opens."""
        reuse_gcm_key_schedule()
        sender = GCMCipher("aes128-gcm", self.KEY, self.IV)
        receiver = GCMCipher("aes128-gcm", self.KEY, self.IV)
        header = (5).to_bytes(4, "big")
        sealed, tag = sender.encrypt_and_sign(header, b"hello")
        assert receiver.verify_and_decrypt(header, b"j" + sealed[5:], tag) is None
        sealed, tag = sender.encrypt_and_sign(header, b"again")
        assert receiver.verify_and_decrypt(header, sealed[4:], tag) == b"again"

    def test_skipped_if_asyncssh_keeps_its_key_elsewhere(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A cipher without the ``_key`` the fix reads: the fix reports itself not in place."""

        def renamed(self: GCMCipher, cipher_name: str, key: bytes, iv: bytes) -> None:
            self.secret, self._iv = key, iv

        monkeypatch.setattr(GCMCipher, "__init__", renamed)
        assert not reuse_gcm_key_schedule()
