"""The composition root: everything ``broker run`` starts, wired together.

- ``root``: the local assembly (store, CAs, auditor, units, API, demo hosts),
  as one role (``broker api``, ``broker region``) or both (``broker run``);
- ``unit``: the regional-unit role (gateway, viewer, registry heartbeat, takeover);
- ``control``: the control plane's view of the units, from the store's registry;
- ``aws``: the AWS-mode assembly (DynamoDB, Secrets Manager, S3, CloudWatch);
- ``workers``: the API worker processes (``api_processes`` > 1);
- ``gc_pauses``: process tuning of the garbage collector.
"""

from __future__ import annotations
