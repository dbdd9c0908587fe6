"""Persistence behind one async interface (``Store``), with SQLite embedded."""

from __future__ import annotations

from broker.store.base import ImportBundle, ImportCounts, Page, SessionQuery, Store

__all__ = ["ImportBundle", "ImportCounts", "Page", "SessionQuery", "Store"]
