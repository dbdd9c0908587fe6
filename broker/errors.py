"""The broker's one exception tree.

Every error carries a machine-readable ``code``, a human ``reason`` and the ids
it concerns, after asyncssh's ``Error(code, reason)``. The API renders them as
RFC 9457 problem+json using ``status`` and ``title``; the CLI prints ``reason``.
Reasons must never contain personal data: they name fields and ids, not values.

    BrokerError
    ├── InputError            400  bad input; names the field
    │   └── PayloadTooLarge   413
    ├── AuthenticationError   401  no, bad or expired credentials
    ├── ForbiddenError        403  authenticated, not allowed
    │   └── PolicyDenied      403  the access policy said no; carries reasons
    ├── NotFoundError         404  unknown id
    ├── ConflictError         409  state changed under the request
    ├── RegionMismatch        409  something tried to cross a region boundary
    └── UnavailableError      503  a dependency (store, storage, AWS) failed: fail closed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar


class BrokerError(Exception):
    """Base of every error the broker raises on purpose."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, code: str, reason: str, **ids: str | None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.ids: dict[str, str] = {k: v for k, v in ids.items() if v is not None}

    def to_dict(self) -> dict[str, object]:
        """The structured fields, for logs and problem bodies."""
        return {"code": self.code, "reason": self.reason, **self.ids}


class InputError(BrokerError):
    """A request or file had a missing, unknown or malformed field."""

    status = 400
    title = "Invalid input"

    def __init__(self, field: str, reason: str, code: str = "invalid_field") -> None:
        super().__init__(code, f"{field}: {reason}")
        self.field = field

    def to_dict(self) -> dict[str, object]:
        """Adds the offending field's name (never its value)."""
        return {**super().to_dict(), "field": self.field}


class PayloadTooLarge(InputError):
    """A request body exceeded the size limit."""

    status = 413
    title = "Payload too large"


class AuthenticationError(BrokerError):
    """The caller could not be authenticated."""

    status = 401
    title = "Unauthenticated"


class ForbiddenError(BrokerError):
    """The caller is known but lacks the role or org for this action."""

    status = 403
    title = "Forbidden"


class PolicyDenied(ForbiddenError):
    """The access policy denied a session; ``reasons`` are its codes."""

    title = "Access denied by policy"

    def __init__(self, reasons: Sequence[str], message: str, **ids: str | None) -> None:
        super().__init__("policy_denied", message, **ids)
        self.reasons = list(reasons)

    def to_dict(self) -> dict[str, object]:
        """Adds the policy's reason codes."""
        return {**super().to_dict(), "reasons": self.reasons}


class NotFoundError(BrokerError):
    """An id named by the caller does not exist (or is not theirs to see)."""

    status = 404
    title = "Not found"


class ConflictError(BrokerError):
    """The state changed under the request; nothing was written."""

    status = 409
    title = "Conflict"


class RegionMismatch(BrokerError):
    """An operation would have moved data or trust across a region boundary."""

    status = 409
    title = "Region mismatch"


class UnavailableError(BrokerError):
    """A dependency failed; the broker fails closed and grants nothing."""

    status = 503
    title = "Service unavailable"


def problem(error: BrokerError, instance: str | None = None) -> Mapping[str, object]:
    """Render ``error`` as an RFC 9457 problem details object."""
    body: dict[str, object] = {
        "type": f"urn:broker:error:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.reason,
        **{k: v for k, v in error.to_dict().items() if k not in ("reason",)},
    }
    if instance is not None:
        body["instance"] = instance
    return body
