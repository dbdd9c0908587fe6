"""The DynamoDB store: the ``Store`` contract on one global table (AWS mode)."""

from __future__ import annotations
