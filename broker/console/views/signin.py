"""Signing in and out: the sign-in page, one-time links, and the OIDC round trip.

After a sign-in the browser gets a small page that moves on by
``<meta http-equiv="refresh">`` (no script) rather than a redirect: the
IdP's answer arrives by a cross-site navigation, and a SameSite=Strict
cookie set there is only sent on the next *same-site* request, which a
redirect inherited from that navigation is not.
"""

from __future__ import annotations

from aiohttp import web

from broker.auth.principal import Principal
from broker.console import cookies
from broker.console.keys import OIDC, SETTINGS, SIGNINS
from broker.console.oidc import Login, principal_of
from broker.console.pages import page, source_ip, user
from broker.console.render import redirect, render, see_other
from broker.errors import AuthenticationError, ConflictError, NotFoundError
from broker.typing import ROLES


async def signin_page(request: web.Request) -> web.Response:
    """The ways to sign in that the config offers."""
    settings = request.app[SETTINGS]
    orgs = [issuer.org for issuer in settings.orgs]
    context = {"staff": settings.staff is not None, "orgs": orgs}
    return render(request, "signin.html", context)


async def use_link(request: web.Request) -> web.Response:
    """Spend a one-time link from ``broker console-link`` and sign its holder in."""
    try:
        signed = await request.app[SIGNINS].use_link(request.query.get("t", ""), source_ip(request))
    except (NotFoundError, ConflictError) as error:  # unknown, used, expired: one answer
        raise AuthenticationError(
            "console_link_refused", "the sign-in link is not valid (it works once, for 60 s)"
        ) from error
    return _signed_in(request, signed.secret)


async def start(request: web.Request) -> web.StreamResponse:
    """Begin an OIDC login with the chosen issuer: remember its secrets, go to the IdP."""
    key = request.query.get("issuer", "")
    client = request.app[OIDC].get(key)
    login = Login.new(key, _redirect_uri(request))
    secret = await request.app[SIGNINS].begin_login(login.to_data())
    response = see_other(await client.authorize_url(login))
    cookies.set_login(response, request, request.app[SETTINGS], secret)
    return response


async def callback(request: web.Request) -> web.Response:
    """The IdP's answer: this browser's login, its state, the code's ID token, the role."""
    signins = request.app[SIGNINS]
    try:
        who, issuer = await _oidc_principal(request)
    except AuthenticationError as error:
        signins.refused("oidc", error.code, source_ip(request))
        raise
    signed = await signins.start(who, {"via": "oidc", "issuer": issuer}, source_ip(request))
    response = _signed_in(request, signed.secret)
    cookies.clear(response, cookies.LOGIN)
    return response


async def _oidc_principal(request: web.Request) -> tuple[Principal, str]:
    """Who the IdP's answer signs in, through which issuer; ``AuthenticationError`` if nobody."""
    secret = request.cookies.get(cookies.LOGIN, "")
    try:
        login = Login.from_data(await request.app[SIGNINS].finish_login(secret))
    except (NotFoundError, ConflictError) as exc:
        raise AuthenticationError(
            "oidc_login_unknown", "the sign-in expired or was used; start again"
        ) from exc
    if "error" in request.query or request.query.get("state") != login.state:
        raise AuthenticationError("oidc_refused", "the identity provider did not sign you in")
    client = request.app[OIDC].get(login.issuer_key)
    id_token = await client.id_token(login, request.query.get("code", ""))
    claims = await client.claims(id_token, login.nonce)
    return principal_of(client.config, claims), login.issuer_key


@page(*ROLES)
async def signout(request: web.Request) -> web.StreamResponse:
    """End this session and drop its cookie."""
    await request.app[SIGNINS].sign_out(user(request), source_ip(request))
    response = redirect(request, "signin", notice="signed_out")
    cookies.clear(response, cookies.SESSION)
    return response


def _signed_in(request: web.Request, secret: str) -> web.Response:
    response = render(
        request, "signed_in.html", {"next": str(request.app.router["home"].url_for())}
    )
    cookies.set_session(response, request, request.app[SETTINGS], secret)
    return response


def _redirect_uri(request: web.Request) -> str:
    path = str(request.app.router["signin.callback"].url_for())
    public = request.app[SETTINGS].public_url
    if public:
        base = public.split("/console", 1)[0]
        return f"{base}{path}"
    return f"{request.scheme}://{request.host}{path}"


def add_routes(app: web.Application) -> None:
    """Sign-in page, link, OIDC start and callback, sign-out."""
    app.router.add_get("/signin", signin_page, name="signin")
    app.router.add_get("/auth/link", use_link, name="signin.link")
    app.router.add_get("/auth/start", start, name="signin.start")
    app.router.add_get("/auth/callback", callback, name="signin.callback")
    app.router.add_post("/signout", signout, name="signout")
