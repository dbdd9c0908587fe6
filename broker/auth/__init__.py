"""Who is calling: the ``Principal``, bearer-token verification (JWKS) and the local authority.

``failures`` counts failed authentications per source before they are audited
(the API's bearer tokens and the gateways' SSH logins alike).

Below ``service`` and ``api``: use cases check a ``Principal``; only the API
reads it from an HTTP header.
"""

from __future__ import annotations
