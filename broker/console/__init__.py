"""The web console for customer admins, ops and engineers, served under ``/console/``.

Server-rendered pages (``app.create_console``) over the API's own services;
sign-in by OpenID Connect or, in local mode, a one-time link
(``broker console-link``). docs/console.md describes roles, sign-in and the
security decisions.
"""
