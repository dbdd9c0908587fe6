"""The DynamoDB store tests share the store tests' moto server (``tests/store/conftest.py``)."""

from __future__ import annotations

from tests.store.conftest import dynamo_server

__all__ = ["dynamo_server"]
