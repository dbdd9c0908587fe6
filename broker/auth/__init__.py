"""Who is calling: the ``Principal``, bearer-token verification (JWKS) and the local authority.

Below ``service`` and ``api``: use cases check a ``Principal``; only the API
reads it from an HTTP header.
"""

from __future__ import annotations
