"""Four asyncssh hot-path fixes for the relay (asyncssh is pinned: pyproject.toml).

Each replaces one asyncssh method and changes only how much work asyncssh
does, never what reaches the peer's application. If an asyncssh upgrade
removes a method (or the cipher state the GCM fix reads), that fix is skipped
(``install_all`` reports it, the gateway logs a warning). They also read a
few private attributes (``_transport``, ``_send_encryption``) that cannot be
probed up front: an upgrade of the pin must pass tests/gateway/test_tuning.py,
which runs every fix over real connections. Under bulk terminal output the
relay handles every packet twice (target leg in, engineer leg out), so
per-packet waste counts double. Together the fixes cut the gateway's CPU
per MB of output by about a third (docs/benchmarks.md).

**Packet log formatting.** asyncssh hands every SSH packet it sends or receives to
``SSHPacketLogger._log_packet``, which copies the payload and formats a
message, and only then does ``SSHLogger.packet`` check whether packet logging
(``asyncssh.set_debug_level(3)``) is on: about a tenth of the gateway's CPU per
megabyte. The wrapper asks first; with packet logging on, asyncssh's own code
runs unchanged, so nothing that asyncssh would log is lost.

**Input slicing.** ``SSHConnection.data_received`` appends a socket read to
its input buffer, then parses packet after packet, and drops each parsed
packet by slicing the buffer, which copies everything after it. A target's
PTY output arrives as reads of up to 256 KiB holding dozens of ~4 KiB packets,
so a read was copied dozens of times over (13 % of the gateway's CPU). The
wrapper hands asyncssh a large read in slices of ``INPUT_SLICE`` bytes, in
order, within the same call: the bytes and the packets parsed are the same,
the copying is bounded by the slice.

**Ignore packets.** Before every packet after key exchange, asyncssh sends an
empty ``SSH_MSG_IGNORE``: the RFC 4251 (section 9.3.1) countermeasure against
chosen-plaintext attacks on CBC, whose next IV is the last ciphertext block.
With an AEAD cipher (AES-GCM, ChaCha20-Poly1305: all the gateway prefers)
every packet has its own nonce and the ignore packet protects nothing, yet it
doubled the packets and ``send`` calls on both legs (strace: 36-byte sends
between the 16 KiB data packets). The wrapper drops that empty ignore packet
when the connection's send cipher is AEAD; with any other cipher asyncssh
sends it as before.

**AES-GCM key schedule.** asyncssh's ``GCMCipher`` builds a new
``cryptography`` ``AESGCM`` object, and so expands the key again, for every
packet it seals or opens. The fix builds it once per cipher (a cipher object
lives for one key, one direction, until the next key exchange) and otherwise
does exactly what asyncssh does: same nonce, same IV step, same output; a
tampered packet still decrypts to None. Tests check it byte for byte
against ``cryptography``'s AESGCM with the RFC 5647 nonces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncssh.connection import SSHConnection
from asyncssh.constants import MSG_IGNORE
from asyncssh.crypto.cipher import GCMCipher
from asyncssh.encryption import ChachaEncryption, GCMEncryption
from asyncssh.logging import SSHLogger
from asyncssh.packet import SSHPacketLogger, String
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PACKET_LOG_LEVEL = 3
"""asyncssh's debug level from which it logs packets (``SSHLogger.packet``)."""

INPUT_SLICE = 16 * 1024
"""Bytes handed to asyncssh's parser at a time: a few packets, a cheap copy."""

AEAD_ENCRYPTIONS = (GCMEncryption, ChachaEncryption)
"""asyncssh's packet encryptions with a per-packet nonce (no CBC IV chaining)."""

GCM_TAG_SIZE = 16
_EMPTY_IGNORE = (String(b""),)
_AEAD = "_broker_aead"
_MARK = "_broker_tuning"

Wrapper = Callable[..., Any]


def install(owner: type, name: str, wrap: Callable[[Wrapper], Wrapper]) -> bool:
    """Replace ``owner.name`` by ``wrap(original)`` once per process.

    True if the wrapper is in place; False (and nothing changed) if asyncssh
    no longer has the method.
    """
    original: Wrapper | None = getattr(owner, name, None)
    if original is None:
        return False
    if getattr(original, _MARK, False):
        return True
    wrapper = wrap(original)
    setattr(wrapper, _MARK, True)
    setattr(owner, name, wrapper)
    return True


def skip_unlogged_packet_formatting() -> bool:
    """Format packets for the log only when asyncssh logs packets."""
    if not hasattr(SSHLogger, "_debug_level"):
        return False

    def wrap(original: Wrapper) -> Wrapper:
        def _log_packet(self: SSHPacketLogger, *args: Any) -> None:
            if self.logger._debug_level >= PACKET_LOG_LEVEL:
                original(self, *args)

        return _log_packet

    return install(SSHPacketLogger, "_log_packet", wrap)


def feed_input_in_slices() -> bool:
    """Parse large socket reads a slice at a time."""

    def wrap(original: Wrapper) -> Wrapper:
        def data_received(self: SSHConnection, data: bytes, datatype: object = None) -> None:
            if len(data) <= INPUT_SLICE:
                original(self, data, datatype)
                return
            view = memoryview(data)
            for start in range(0, len(view), INPUT_SLICE):
                if self._transport is None:
                    return  # closed by a packet in an earlier slice: the rest is moot
                original(self, view[start : start + INPUT_SLICE], datatype)

        return data_received

    return install(SSHConnection, "data_received", wrap)


def skip_ignore_packets_with_aead() -> bool:
    """Send no empty ignore packet ahead of each packet on AEAD connections."""

    def wrap(original: Wrapper) -> Wrapper:
        def send_packet(self: SSHConnection, pkttype: int, *args: bytes, **kwargs: Any) -> None:
            if (
                pkttype == MSG_IGNORE
                and args == _EMPTY_IGNORE
                and isinstance(self._send_encryption, AEAD_ENCRYPTIONS)
            ):
                return
            original(self, pkttype, *args, **kwargs)

        return send_packet

    return install(SSHConnection, "send_packet", wrap)


def _aead(cipher: GCMCipher) -> AESGCM:
    """The cipher's ``AESGCM``, built from its key on first use."""
    aead: AESGCM | None = cipher.__dict__.get(_AEAD)
    if aead is None:
        aead = AESGCM(cipher._key)
        setattr(cipher, _AEAD, aead)
    return aead


def reuse_gcm_key_schedule() -> bool:
    """Seal and open GCM packets with one ``AESGCM`` per cipher object."""
    probe = GCMCipher("aes128-gcm", bytes(16), bytes(12))  # the state the fix reads
    needed = ("_key", "_iv", "_update_iv", "encrypt_and_sign", "verify_and_decrypt")
    if not all(hasattr(probe, name) for name in needed):
        return False

    def wrap(original: Wrapper) -> Wrapper:
        def encrypt_and_sign(self: GCMCipher, header: bytes, data: bytes) -> tuple[bytes, bytes]:
            sealed = _aead(self).encrypt(self._iv, data, header)
            self._update_iv()
            return header + sealed[:-GCM_TAG_SIZE], sealed[-GCM_TAG_SIZE:]

        return encrypt_and_sign

    def wrap_open(original: Wrapper) -> Wrapper:
        def verify_and_decrypt(
            self: GCMCipher, header: bytes, data: bytes, mac: bytes
        ) -> bytes | None:
            try:
                opened: bytes | None = _aead(self).decrypt(self._iv, data + mac, header)
            except InvalidTag:
                opened = None
            self._update_iv()
            return opened

        return verify_and_decrypt

    return install(GCMCipher, "encrypt_and_sign", wrap) and install(
        GCMCipher, "verify_and_decrypt", wrap_open
    )


def install_all() -> dict[str, bool]:
    """Every fix; which are in place, by name (the gateway warns of any skipped)."""
    fixes = (
        skip_unlogged_packet_formatting,
        feed_input_in_slices,
        skip_ignore_packets_with_aead,
        reuse_gcm_key_schedule,
    )
    return {fix.__name__: fix() for fix in fixes}
