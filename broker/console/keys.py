"""The console's application and request keys, named once."""

from __future__ import annotations

from aiohttp import web

from broker.config.console import ConsoleSettings
from broker.console.oidc import OidcClients
from broker.console.signins import ConsoleSignins, SignedIn

SETTINGS = web.AppKey("console_settings", ConsoleSettings)
SIGNINS = web.AppKey("console_signins", ConsoleSignins)
USER = web.RequestKey("console_user", SignedIn)
"""The signed-in browser of this request; set by ``middleware.authenticate``."""
OIDC = web.AppKey("console_oidc", OidcClients)
