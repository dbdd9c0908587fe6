"""The embedded SQLite store: the ``Store`` contract on one WAL database file."""

from __future__ import annotations
