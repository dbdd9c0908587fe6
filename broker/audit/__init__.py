"""The audit trail: redaction, events, a hash chain per writer of each region, verify, queries.

Write through ``Auditor.emit``; configure logging once with
``broker.audit.log.configure_logging``; scrub anything else leaving the broker
(API error bodies, recording headers) with ``Auditor.redactor``.
"""

from __future__ import annotations

from broker.audit.auditor import Auditor
from broker.audit.catalog import EVENT_FIELDS, EVENT_TYPES
from broker.audit.chain import ChainConfig, Durability
from broker.audit.keys import FileSecretSource, MemorySecretSource, SecretSource
from broker.audit.reader import AuditQuery, Cursor, Page
from broker.audit.redact import Redactor, RegionRedactor
from broker.audit.verify import Problem, RegionVerdict, VerifyResult, verify_region

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "AuditQuery",
    "Auditor",
    "ChainConfig",
    "Cursor",
    "Durability",
    "FileSecretSource",
    "MemorySecretSource",
    "Page",
    "Problem",
    "Redactor",
    "RegionRedactor",
    "RegionVerdict",
    "SecretSource",
    "VerifyResult",
    "verify_region",
]
