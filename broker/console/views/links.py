"""``POST /console/auth/links``: a one-time sign-in link, for ``broker console-link``.

Local mode only, where the CLI mints a short bearer token with the broker's
own key: the link signs in the principal of that token, so it grants no
more than the token already does. With an identity provider (AWS mode),
people sign in there and this endpoint answers 404.
"""

from __future__ import annotations

from aiohttp import web

from broker.api.serialize import iso, json_response
from broker.auth.principal import TokenVerifier, bearer_token
from broker.console.keys import SIGNINS
from broker.console.signins import LINK_LIFETIME
from broker.errors import NotFoundError

VERIFIER = web.AppKey("console_verifier", TokenVerifier)
LOCAL = web.AppKey("console_local", bool)


async def issue(request: web.Request) -> web.Response:
    """The link (its token in the query) and when it stops working."""
    if not request.app[LOCAL]:
        raise NotFoundError("not_found", "console links exist in local mode only")
    who = request.app[VERIFIER].verify_token(bearer_token(request.headers.get("Authorization")))
    signins = request.app[SIGNINS]
    token = await signins.issue_link(who)
    path = request.app.router["signin.link"].url_for().with_query(t=token)
    expires = signins.clock.now() + LINK_LIFETIME
    url = f"{request.scheme}://{request.host}{path}"
    return json_response({"url": url, "expires_at": iso(expires)}, status=201)


def add_routes(app: web.Application) -> None:
    """The one JSON endpoint of the console."""
    app.router.add_post("/auth/links", issue, name="signin.links")
