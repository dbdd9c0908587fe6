"""Persistence behind one async interface (``Store``).

- ``base``: the ``Store`` protocol and its records; ``checks``: the input
  checks every store makes the same way; ``encoding``: times and cursors;
- ``facade``: ``ThreadedStore``, the async facade both stores share;
- ``sqlite/``: the embedded store (the DynamoDB one is ``broker.aws.dynamodb``);
- ``grant_cache``: recent grant records; ``import_bundle``: the import-bundle parser.
"""

from __future__ import annotations

from broker.store.base import ImportBundle, ImportCounts, Page, SessionQuery, Store

__all__ = ["ImportBundle", "ImportCounts", "Page", "SessionQuery", "Store"]
