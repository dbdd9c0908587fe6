"""The composition root: everything ``broker run`` starts, wired together.

- ``root``: the local assembly (store, CAs, auditor, gateways, API, demo hosts);
- ``aws``: the AWS-mode assembly (DynamoDB, Secrets Manager, S3, CloudWatch);
- ``workers``: the API worker processes (``api_processes`` > 1);
- ``gc_pauses``: process tuning of the garbage collector.
"""

from __future__ import annotations
