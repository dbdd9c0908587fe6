"""Telling people that something waits for them (``base``: the interface and a no-op)."""

from __future__ import annotations

from broker.notify.base import ConsentRequestNotice, Notifier, NullNotifier

__all__ = ["ConsentRequestNotice", "Notifier", "NullNotifier"]
