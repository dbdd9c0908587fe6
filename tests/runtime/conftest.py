"""The AWS assembly tests run against the same moto servers as ``tests/aws``."""

from __future__ import annotations

from tests.aws.conftest import clients, fake_credentials, moto_eu, moto_us

__all__ = ["clients", "fake_credentials", "moto_eu", "moto_us"]
