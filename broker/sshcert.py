"""OpenSSH public keys and user certificates in wire format (PROTOCOL.certkeys).

The CA signs one certificate per session grant, so this is on the grant's hot
path. asyncssh builds a certificate through its generic key objects (parse the
key into a crypto object, re-encode it, wrap the signature) at about twice the
cost of the Ed25519 signature itself. A certificate is a plain length-prefixed
encoding: the user key's public fields copied from its blob, the fields below,
and the CA's signature over all of it, which is what this module writes.

Wire types (RFC 4251): ``string`` is a uint32 length and bytes; ``uint64`` and
``uint32`` are big-endian.
"""

from __future__ import annotations

import base64
import binascii
import functools
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.randomness import random_bytes

__all__ = [
    "PublicKeyBlob",
    "UserCertificate",
    "WireFormatError",
    "certificate_type",
    "parse_public_key_line",
    "sign_user_certificate",
]

USER_CERT = 1
"""The certificate type code of a user certificate (2 is a host certificate)."""

_ED25519 = b"ssh-ed25519"
_ED25519_KEY_SIZE = 32
_U32 = struct.Struct(">I")
_SERIAL_AND_TYPE = struct.Struct(">QI")
_VALIDITY = struct.Struct(">QQ")
_EMPTY_STRING = b"\0\0\0\0"
_SIGNATURE_TYPE = _U32.pack(len(_ED25519)) + _ED25519


class WireFormatError(ValueError):
    """The bytes are not the SSH wire structure they should be."""


@dataclass(frozen=True, slots=True)
class PublicKeyBlob:
    """A public key as its algorithm name and its wire-format blob."""

    algorithm: bytes
    """The key type, e.g. ``b"ssh-ed25519"``."""
    blob: bytes
    """The whole wire encoding: ``string algorithm`` then the key's public fields."""

    @property
    def fields(self) -> bytes:
        """The blob after its algorithm name: what a certificate embeds."""
        return self.blob[4 + len(self.algorithm) :]

    def line(self) -> str:
        """The key as an OpenSSH public key line, without a comment."""
        return f"{self.algorithm.decode('ascii')} {base64.b64encode(self.blob).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class UserCertificate:
    """The fields of a user certificate, as ``sign_user_certificate`` writes them."""

    key: PublicKeyBlob
    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: tuple[tuple[str, str], ...] = ()
    """Name and value pairs, e.g. ``("source-address", "10.0.0.0/8")``."""
    extensions: tuple[str, ...] = ("permit-pty",)


def string(data: bytes) -> bytes:
    """An SSH ``string``: uint32 length, then the bytes."""
    return _U32.pack(len(data)) + data


def read_string(data: bytes, offset: int) -> tuple[bytes, int]:
    """The ``string`` at ``offset`` and the offset after it."""
    if offset + 4 > len(data):
        raise WireFormatError("truncated length")
    (size,) = struct.unpack_from(">I", data, offset)
    end = offset + 4 + size
    if end > len(data):
        raise WireFormatError("truncated string")
    return data[offset + 4 : end], end


def certificate_type(algorithm: bytes) -> bytes:
    """The certificate type name for a key type (``ssh-ed25519-cert-v01@openssh.com``)."""
    base = algorithm.removesuffix(b"@openssh.com")
    return base + b"-cert-v01@openssh.com"


def parse_public_key_line(line: str) -> PublicKeyBlob:
    """``type base64 [comment]`` into its blob; the blob must name the same type.

    Only the framing is checked here; Ed25519 blobs are checked completely (one
    32-byte key), other types need their own parser to check their fields.
    """
    parts = line.split(None, 2)
    if len(parts) < 2:
        raise WireFormatError("expected 'type base64'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as error:
        raise WireFormatError("invalid base64") from error
    algorithm, end = read_string(blob, 0)
    if algorithm != parts[0].encode("ascii", "replace"):
        raise WireFormatError("the blob's key type differs from the line's")
    if algorithm == _ED25519:
        key, end = read_string(blob, end)
        if len(key) != _ED25519_KEY_SIZE or end != len(blob):
            raise WireFormatError("an Ed25519 key is 32 bytes")
    return PublicKeyBlob(algorithm, blob)


def sign_user_certificate(
    ca_key: Ed25519PrivateKey, ca_blob: bytes, cert: UserCertificate, nonce: bytes | None = None
) -> bytes:
    """The certificate's wire blob, signed by ``ca_key`` (whose public blob is ``ca_blob``)."""
    body = b"".join(
        (
            _type_string(cert.key.algorithm),
            string(random_bytes(32) if nonce is None else nonce),
            cert.key.fields,
            _SERIAL_AND_TYPE.pack(cert.serial, USER_CERT),
            string(cert.key_id.encode("utf-8")),
            string(b"".join(string(p.encode("utf-8")) for p in cert.principals)),
            _VALIDITY.pack(cert.valid_after, cert.valid_before),
            string(_options(cert.critical_options)),
            _extensions_string(cert.extensions),
            _EMPTY_STRING,  # reserved
            string(ca_blob),
        )
    )
    return body + string(_SIGNATURE_TYPE + string(ca_key.sign(body)))


@functools.cache
def _type_string(algorithm: bytes) -> bytes:
    """The certificate type as a ``string``: one per key type, so computed once."""
    return string(certificate_type(algorithm))


@functools.cache
def _extensions_string(extensions: tuple[str, ...]) -> bytes:
    """Extensions, sorted by name, each with an empty value (nearly always permit-pty)."""
    return string(b"".join(string(name.encode()) + _EMPTY_STRING for name in sorted(extensions)))


def _options(options: tuple[tuple[str, str], ...]) -> bytes:
    """Critical options, sorted by name, each value itself a ``string`` (certkeys)."""
    return b"".join(
        string(name.encode()) + string(string(value.encode())) for name, value in sorted(options)
    )
