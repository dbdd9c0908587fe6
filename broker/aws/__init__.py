"""AWS mode: boto3 adapters pinned to one region each (see ``clients.py``)."""

from __future__ import annotations
