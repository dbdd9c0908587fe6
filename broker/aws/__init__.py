"""AWS mode: boto3 adapters pinned to one region each (see ``clients.py``).

The only package that imports boto3 (``tests/test_layers.py`` holds it so):
clients, secrets, S3 recordings, CloudWatch, EC2 targets, the audit mirror,
and ``dynamodb/``, the DynamoDB store. Their settings are parsed in
``broker.config.aws``; ``broker.runtime.aws`` assembles them.
"""

from __future__ import annotations
