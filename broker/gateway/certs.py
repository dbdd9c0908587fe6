"""Pure checks of a presented certificate and of the session it names.

asyncssh keeps no certificate object after authentication (docs/platform-notes.md), so the
gateway parses the certificate blob itself with ``cryptography``'s public
OpenSSH loader. These checks run *before* asyncssh's own (which verify the
same window, principal and signature again): two independent layers.

Each check returns ``None`` when fine, or a short machine-readable reason
that goes into the ``auth.failed`` event. Reasons never carry the login name
an unauthenticated client typed.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateType,
    load_ssh_public_identity,
    load_ssh_public_key,
)

from broker.models import Session
from broker.typing import Region

_MAX_TIME = 2**64 - 1
ALLOWED_CRITICAL_OPTIONS = frozenset({b"source-address"})
"""``force-command`` would turn a shell into an exec: refused outright."""


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the gateway needs from a user certificate."""

    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    signer: bytes
    critical_options: frozenset[bytes]
    is_user: bool


def openssh_public(line: bytes | str) -> bytes:
    """Normalise an OpenSSH public-key line to ``b"<type> <base64>"`` (no comment)."""
    data = line.encode("ascii") if isinstance(line, str) else line
    key = load_ssh_public_key(data)
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def _algorithm(blob: bytes) -> bytes:
    """The key-type string at the head of an SSH wire-format key blob."""
    if len(blob) < 4:
        raise ValueError("short key blob")
    (length,) = struct.unpack(">I", blob[:4])
    if length == 0 or length > 64 or len(blob) < 4 + length:
        raise ValueError("bad key type")
    return blob[4 : 4 + length]


def _info(cert: SSHCertificate) -> CertInfo:
    """Copy the fields we use out of a ``cryptography`` certificate."""
    signer = cert.signature_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return CertInfo(
        serial=cert.serial,
        key_id=cert.key_id.decode("utf-8", "replace"),
        principals=tuple(p.decode("utf-8", "replace") for p in cert.valid_principals),
        valid_after=cert.valid_after,
        valid_before=cert.valid_before,
        signer=signer,
        critical_options=frozenset(cert.critical_options),
        is_user=cert.type == SSHCertificateType.USER,
    )


def parse_certificate(blob: bytes) -> CertInfo | None:
    """The certificate in an SSH wire-format blob with a valid signature, else None."""
    try:
        text = _algorithm(blob) + b" " + base64.b64encode(blob)
        cert = load_ssh_public_identity(text)
        if not isinstance(cert, SSHCertificate):
            return None
        cert.verify_cert_signature()
        return _info(cert)
    except (ValueError, TypeError, InvalidSignature, UnicodeError):
        return None


def check_certificate(
    info: CertInfo | None, login: str, ca_public: bytes, now: datetime
) -> str | None:
    """Why this certificate may not log in as ``login`` now, or None."""
    if info is None:
        return "not_a_certificate"
    return _check_issue(info, login, ca_public) or _check_window(info, now)


def _check_issue(info: CertInfo, login: str, ca_public: bytes) -> str | None:
    """Signer, type, principal and critical options."""
    if info.signer != ca_public:
        return "unknown_ca"
    if not info.is_user:
        return "not_a_user_certificate"
    if info.principals != (login,):
        return "principal_mismatch"
    if info.critical_options - ALLOWED_CRITICAL_OPTIONS:
        return "critical_option"
    return None


def _check_window(info: CertInfo, now: datetime) -> str | None:
    """The validity window, against the gateway's clock."""
    stamp = now.timestamp()
    if stamp < info.valid_after:
        return "not_yet_valid"
    if info.valid_before != _MAX_TIME and stamp >= info.valid_before:
        return "expired"
    return None


VIEW_ONLY = "view_only_session"
"""The reason for a login to a ``view`` session: it is opened in the region's viewer."""


def check_session(session: Session, region: Region, serial: int, now: datetime) -> str | None:
    """Why ``session`` may not be connected to through this gateway now, or None.

    A ``view`` session is refused even with a valid certificate for it: the
    broker never signs one, so one that exists is a mistake or a forgery, and
    the policy allowed that ticket the viewer only.
    """
    if session.region != region:
        return "wrong_region"
    if session.access != "terminal":
        return VIEW_ONLY
    if session.state != "issued":
        return f"session_{session.state}"
    if now >= session.valid_before:
        return "session_expired"
    if session.cert_serial is not None and session.cert_serial != serial:
        return "serial_mismatch"
    return None
