"""Turning botocore failures into the broker's errors, without leaking details."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from broker.errors import UnavailableError

AWS_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
"""What a boto3 call raises when AWS (or the network to it) fails."""


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a ``ClientError`` (e.g. ``ResourceExistsException``), else None."""
    if isinstance(error, ClientError):
        code: Any = error.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def unavailable(code: str, service: str, error: BaseException) -> UnavailableError:
    """An ``UnavailableError`` naming the service and the AWS error code only."""
    aws = error_code(error) or type(error).__name__
    return UnavailableError(code, f"{service} failed ({aws})")
