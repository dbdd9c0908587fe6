"""The per-region SSH certificate authority: one Ed25519 key per region.

Each region's CA key lives in that region's ``KeyStore`` and signs only for
sessions of that region, so a certificate is usable only at its own region's
gateway. Certificates name the session id as their one principal and permit a
PTY and nothing else; the gateway denies everything else by its own settings
too, so a certificate that permitted more would still get nothing more.

asyncssh keeps no certificate object after authentication (docs/platform-notes.md), so
``describe_certificate`` reads key id and serial back from a certificate's
text or wire blob with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import asyncssh
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    SSHCertificate,
    SSHCertificateType,
    load_ssh_private_key,
    load_ssh_public_identity,
    load_ssh_public_key,
)

from broker.clock import Clock
from broker.errors import ConflictError, InputError, RegionMismatch, UnavailableError
from broker.keys import KeyStore, get_or_create
from broker.models import Session
from broker.randomness import random_bits
from broker.sshcert import (
    PublicKeyBlob,
    UserCertificate,
    WireFormatError,
    certificate_type,
    parse_public_key_line,
    sign_user_certificate,
)
from broker.state import check_region
from broker.typing import Region, SessionId, StaffId, TicketId

UserKeyInput = str | PublicKeyBlob | asyncssh.SSHKey
"""What ``RegionCA.sign`` takes as the session key: a line, a parsed blob, an asyncssh key."""

CA_KEY_NAME = "ssh-user-ca-ed25519"
"""The secret name of a region's CA private key (OpenSSH private key format)."""

CLOCK_SKEW = timedelta(seconds=30)
"""How far before now a certificate becomes valid, for clocks running behind."""

DEFAULT_MAX_VALIDITY = timedelta(hours=1)
"""The longest certificate the CA signs: a backstop behind the policy's TTL cap."""

USER_KEY_ALGORITHMS = frozenset(
    {
        b"ssh-ed25519",
        b"sk-ssh-ed25519@openssh.com",
        b"ecdsa-sha2-nistp256",
        b"ecdsa-sha2-nistp384",
        b"ecdsa-sha2-nistp521",
        b"sk-ecdsa-sha2-nistp256@openssh.com",
        b"ssh-rsa",
    }
)
"""Key types a session key may have; DSA and short RSA keys are refused."""

MIN_RSA_BITS = 2048
_MAX_KEY_TEXT = 16 * 1024
# "Valid forever" is 2**64-1 in a certificate, beyond what datetime can hold.
_FOREVER = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp())
# Ids end up in the principal and in the '/'-joined key id: no separators there.
_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A signed session certificate and the fields the store and audit keep."""

    certificate: str
    """The certificate as one OpenSSH line (``ssh-ed25519-cert-v01@openssh.com ...``)."""
    serial: int
    key_id: str
    valid_after: datetime
    valid_before: datetime


class CertificateInfo(TypedDict):
    """What ``describe_certificate`` reads from a certificate."""

    type: str
    key_id: str
    serial: int
    principals: list[str]
    valid_after: datetime
    valid_before: datetime
    critical_options: dict[str, str]
    extensions: list[str]
    ca_public_key: str


class RegionCA:
    """The SSH user CA of one region; signs certificates for that region's sessions."""

    def __init__(
        self,
        region: Region,
        key: asyncssh.SSHKey,
        clock: Clock,
        *,
        max_validity: timedelta = DEFAULT_MAX_VALIDITY,
    ) -> None:
        if key.algorithm != b"ssh-ed25519":
            raise UnavailableError("ca_key_invalid", "CA key is not Ed25519", region=region)
        self.region = region
        self._key = key
        # Signing goes through cryptography directly (broker.sshcert): half the cost.
        self._signer = _ed25519_signer(key)
        self._blob: bytes = key.public_data
        self._clock = clock
        self._max_validity = max_validity
        self.public_key: str = key.export_public_key().decode("ascii").strip()
        """The CA's public key as one OpenSSH line, for ``cert-authority`` trust."""
        self.fingerprint: str = key.get_fingerprint()
        """The CA key's SHA256 fingerprint, as OpenSSH prints it."""

    @classmethod
    async def load(
        cls,
        region: Region,
        store: KeyStore,
        clock: Clock,
        *,
        max_validity: timedelta = DEFAULT_MAX_VALIDITY,
    ) -> RegionCA:
        """The region's CA from ``store``, generating its key on first use."""
        region = check_region(region)
        secret = await get_or_create(store, region, CA_KEY_NAME, _new_ca_key)
        try:
            key = asyncssh.import_private_key(secret)
        except (asyncssh.KeyImportError, ValueError) as error:
            raise UnavailableError(
                "ca_key_invalid", "CA key cannot be loaded", region=region
            ) from error
        return cls(region, key, clock, max_validity=max_validity)

    def sign(self, session: Session, public_key: UserKeyInput) -> IssuedCertificate:
        """Sign ``public_key`` for ``session``: principal = session id, PTY only.

        ``public_key`` is an OpenSSH line, a key ``parse_user_key`` already
        parsed, or an asyncssh key.

        Refuses sessions of another region (RegionMismatch), sessions no longer
        live (ConflictError) and lifetimes beyond the CA's maximum (InputError).
        """
        now = self._clock.now()
        self._check_session(session, now)
        source = source_address_list(session.source_address)
        cert = UserCertificate(
            key=_user_key(public_key),
            # The store may already hold the serial (chosen at insert: one write fewer).
            serial=session.cert_serial or new_serial(),
            key_id=make_key_id(session.id, session.staff_id, session.ticket_id),
            principals=(session.id,),
            valid_after=int((now - CLOCK_SKEW).timestamp()),
            valid_before=int(session.valid_before.timestamp()),
            critical_options=(("source-address", ",".join(source)),) if source else (),
            extensions=("permit-pty",),
        )
        blob = sign_user_certificate(self._signer, self._blob, cert)
        return IssuedCertificate(
            certificate=f"{certificate_type(cert.key.algorithm).decode()} "
            f"{base64.b64encode(blob).decode()}",
            serial=cert.serial,
            key_id=cert.key_id,
            valid_after=datetime.fromtimestamp(cert.valid_after, UTC),
            valid_before=datetime.fromtimestamp(cert.valid_before, UTC),
        )

    def _check_session(self, session: Session, now: datetime) -> None:
        """Only a live session of this region, ending within the maximum, is signed."""
        if session.region != self.region:
            raise RegionMismatch(
                "ca_region_mismatch",
                "a region's CA signs only for sessions of its own region",
                session_id=session.id,
                region=self.region,
            )
        if not session.live_at(now):
            raise ConflictError("session_not_live", "session is not live", session_id=session.id)
        if session.valid_before - now > self._max_validity:
            raise InputError("valid_before", "exceeds the CA's maximum certificate validity")


class CARegistry:
    """The RegionCA of every region, loaded (or created) lazily on first use."""

    def __init__(
        self,
        store: KeyStore,
        clock: Clock,
        *,
        max_validity: timedelta = DEFAULT_MAX_VALIDITY,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_validity = max_validity
        self._cas: dict[Region, RegionCA] = {}
        self._lock = asyncio.Lock()

    async def get(self, region: Region) -> RegionCA:
        """The CA of ``region``; the first call per region loads or creates its key."""
        ca = self._cas.get(region)
        if ca is not None:
            return ca
        async with self._lock:
            ca = self._cas.get(region)
            if ca is None:
                ca = await RegionCA.load(
                    region, self._store, self._clock, max_validity=self._max_validity
                )
                self._cas[region] = ca
        return ca

    async def sign(self, session: Session, public_key: UserKeyInput) -> IssuedCertificate:
        """Sign with the CA of the session's own region."""
        return (await self.get(session.region)).sign(session, public_key)


def _new_ca_key() -> bytes:
    """A fresh Ed25519 CA key in OpenSSH private key format."""
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key()


def new_serial() -> int:
    """A random, nonzero 64-bit certificate serial."""
    while True:
        serial = random_bits(64)
        if serial:
            return serial


def make_key_id(session_id: SessionId, staff_id: StaffId, ticket_id: TicketId) -> str:
    """The certificate key id ``<session-id>/<staff-id>/<ticket-id>``."""
    ids = (("session_id", session_id), ("staff_id", staff_id), ("ticket_id", ticket_id))
    for field, value in ids:
        if not _ID.fullmatch(value):
            raise InputError(field, "ids are 1-128 of [A-Za-z0-9._:@+=-]")
    return f"{session_id}/{staff_id}/{ticket_id}"


def parse_key_id(key_id: str) -> tuple[SessionId, StaffId, TicketId]:
    """Split a key id made by ``make_key_id`` back into its three ids."""
    parts = key_id.split("/")
    if len(parts) != 3 or not all(_ID.fullmatch(part) for part in parts):
        raise InputError("key_id", "not a session certificate key id")
    return SessionId(parts[0]), StaffId(parts[1]), TicketId(parts[2])


def parse_user_key(text: str) -> PublicKeyBlob:
    """A session's public key from one OpenSSH line; InputError naming ``public_key``."""
    line = text.strip()
    if not line or len(line) > _MAX_KEY_TEXT or "\n" in line or "\r" in line:
        raise InputError("public_key", "expected one OpenSSH public key line")
    try:
        key = parse_public_key_line(line)
    except WireFormatError as error:
        raise InputError("public_key", "not a valid OpenSSH public key") from error
    if key.algorithm not in USER_KEY_ALGORITHMS:
        raise InputError("public_key", "key type not accepted; use ssh-ed25519")
    if key.algorithm != b"ssh-ed25519":  # framing alone checked the Ed25519 blob completely
        try:
            check_user_key(asyncssh.import_public_key(line))
        except (asyncssh.KeyImportError, ValueError) as error:
            raise InputError("public_key", "not a valid OpenSSH public key") from error
    return key


def check_user_key(key: asyncssh.SSHKey) -> PublicKeyBlob:
    """``key`` if its type is accepted for sessions (no DSA, no short RSA)."""
    if key.algorithm not in USER_KEY_ALGORITHMS:
        raise InputError("public_key", "key type not accepted; use ssh-ed25519")
    if key.algorithm == b"ssh-rsa":
        rsa = load_ssh_public_key(key.export_public_key())
        if not isinstance(rsa, RSAPublicKey) or rsa.key_size < MIN_RSA_BITS:
            raise InputError("public_key", f"RSA keys need at least {MIN_RSA_BITS} bits")
    return PublicKeyBlob(key.algorithm, key.public_data)


def _user_key(public_key: UserKeyInput) -> PublicKeyBlob:
    if isinstance(public_key, str):
        return parse_user_key(public_key)
    if isinstance(public_key, PublicKeyBlob):
        return public_key
    return check_user_key(public_key)


def _ed25519_signer(key: asyncssh.SSHKey) -> Ed25519PrivateKey:
    signer = load_ssh_private_key(key.export_private_key(), None)
    if not isinstance(signer, Ed25519PrivateKey):
        raise UnavailableError("ca_key_invalid", "CA key is not Ed25519")
    return signer


def source_address_list(source: str | None) -> list[str] | None:
    """The certificate's ``source-address`` list: None, or one normalised CIDR.

    Host bits set (``10.0.0.1/8``) are refused rather than silently widened.
    """
    if source is None:
        return None
    try:
        network = ipaddress.ip_network(source.strip(), strict=True)
    except ValueError as error:
        raise InputError("source_address", "expected an IP address or CIDR block") from error
    return [str(network)]


def describe_certificate(cert: str | bytes) -> CertificateInfo:
    """Read an OpenSSH certificate (text line or raw wire blob) back into fields.

    The CA signature is checked; which CA to trust is the caller's decision,
    made by comparing ``ca_public_key``. InputError naming ``certificate``.
    """
    parsed = _load_certificate(cert)
    ca_key = parsed.signature_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    kind = "user" if parsed.type == SSHCertificateType.USER else "host"
    return CertificateInfo(
        type=kind,
        key_id=parsed.key_id.decode("utf-8", "replace"),
        serial=parsed.serial,
        principals=[p.decode("utf-8", "replace") for p in parsed.valid_principals],
        valid_after=datetime.fromtimestamp(parsed.valid_after, UTC),
        valid_before=datetime.fromtimestamp(min(parsed.valid_before, _FOREVER), UTC),
        critical_options={
            k.decode("ascii", "replace"): v.decode("utf-8", "replace")
            for k, v in parsed.critical_options.items()
        },
        extensions=sorted(k.decode("ascii", "replace") for k in parsed.extensions),
        ca_public_key=ca_key.decode("ascii"),
    )


def _load_certificate(cert: str | bytes) -> SSHCertificate:
    """Parse and signature-check a certificate given as a line or a wire blob."""
    data = cert.encode("ascii", "replace") if isinstance(cert, str) else cert
    # A wire blob opens with its type name's 4-byte length, so with a zero byte.
    data = _wire_to_line(data) if data[:1] == b"\x00" else data.strip()
    try:
        parsed = load_ssh_public_identity(data)
        if not isinstance(parsed, SSHCertificate):
            raise InputError("certificate", "a plain public key, not a certificate")
        parsed.verify_cert_signature()
    except (ValueError, UnsupportedAlgorithm, InvalidSignature) as error:
        raise InputError("certificate", "not a valid OpenSSH certificate") from error
    return parsed


def _wire_to_line(blob: bytes) -> bytes:
    """A wire-format key blob as an OpenSSH line: its type name, then base64."""
    size = int.from_bytes(blob[:4], "big")
    name = blob[4 : 4 + size]
    if not 0 < size <= 64 or len(name) != size or not name.isascii():
        raise InputError("certificate", "not a valid OpenSSH certificate")
    return name + b" " + base64.b64encode(blob)
