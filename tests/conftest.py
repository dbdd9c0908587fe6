"""Shared fixtures. Real servers on ephemeral loopback ports live in ``tests/fixtures/``."""
