"""Who a request acts as, and what it may do (docs/security.md): the dashboard's one entry
point for sign-in, sessions, API tokens, the trusted proxy header, CSRF and the roles.

``install(app)`` adds a middleware that establishes the request's principal (a bearer token, a
trusted proxy's header, or the session cookie, in that order), refuses reads off loopback to
nobody, and checks every unsafe request a browser could be tricked into sending (one that a
cookie or a proxy authenticates: its Origin/Referer, and its CSRF token, compared in constant
time). Routes state the role they need with ``require(role)``; every refusal is audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, quote, urlsplit

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from safeship import core
from safeship.dashboard.templating import templates

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from safeship.config import LoadedConfig

# `__Host-`: the browser keeps the cookie only if it is Secure, for "/", set by this very host
# (no subdomain can plant or overwrite it). Without Secure the prefix is refused: plain names.
SESSION_COOKIE: Final = "__Host-safeship_session"
PLAIN_SESSION_COOKIE: Final = "safeship_session"
# Behind an authenticating proxy there is no session: the CSRF token is a cookie's random value
# that the form must repeat (double submit; `__Host-` so nothing else can set it).
CSRF_COOKIE: Final = "__Host-safeship_csrf"
PLAIN_CSRF_COOKIE: Final = "safeship_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# The forms are small; a bigger body is not read to find their token.
MAX_FORM_BYTES: Final = 64 * 1024
# On every answer: no page of the dashboard may be framed (a confirm button under another
# site's decoy), nor a response sniffed as another type; links carry no path to other sites.
HARDENING_HEADERS: Final = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    # Scripts only from the dashboard's own files (no inline script exists, so text that
    # escaped escaping still could not run); inline styles are the SVG charts'.
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
)
# What nobody needs to be signed in for, even off loopback.
PUBLIC_PATHS: Final = ("/signin", "/signout", "/static/")


@dataclass(frozen=True)
class Caller:
    """What the middleware established about a request (``request.state.caller``)."""

    principal: core.Principal | None
    client: str
    session_id: str | None = None
    csrf: str | None = None  # the token this caller's forms carry (None: no form needs one)
    new_csrf_cookie: bool = False  # set the proxy mode's CSRF cookie on the response
    refusal: str | None = None  # a credential was given and refused (a bad token)


class Refused(Exception):
    """Raised by ``require``; the app answers with its response (installed by ``install``)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def install(app: FastAPI) -> None:
    """Add sign-in, sign-out, the actions, the security middleware and the template context
    (``principal``, ``csrf_input()``, ``csrf_token()``) to the dashboard ``app``."""
    from safeship.dashboard import actions, auth_routes

    if getattr(app.state, "security_installed", False):
        return
    app.state.security_installed = True
    app.add_middleware(SecurityMiddleware)
    app.add_exception_handler(Refused, _answer_refused)
    app.include_router(auth_routes.router)
    app.include_router(actions.router)
    app.include_router(actions.api_router)
    processors = templates().context_processors
    if _template_context not in processors:
        processors.append(_template_context)


# -- binding ---------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.strip("[]").lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_problem(host: str, loaded: LoadedConfig) -> str | None:
    """Why `safeship serve` must not listen on ``host`` (one line), or None: any address but
    loopback needs authentication configured, or anyone who can reach it could act."""
    if is_loopback(host):
        return None
    if core.auth_configured(loaded):
        return None
    return (
        f"refusing to listen on {host}: no one could sign in there. Add a user "
        "(safeship user add NAME --role admin) or set [serve.auth] trusted_header, "
        "or listen on 127.0.0.1"
    )


def reads_need_signin(app: Any) -> bool:
    """Off loopback even reading needs a signed-in viewer (``app.state.host``: the address
    `safeship serve` listens on, else ``[serve].host``)."""
    host = getattr(app.state, "host", None) or app.state.loaded.config.serve.host
    return not is_loopback(str(host))


def session_cookie_name(loaded: LoadedConfig) -> str:
    return SESSION_COOKIE if loaded.config.serve.auth.secure_cookies else PLAIN_SESSION_COOKIE


def csrf_cookie_name(loaded: LoadedConfig) -> str:
    return CSRF_COOKIE if loaded.config.serve.auth.secure_cookies else PLAIN_CSRF_COOKIE


# -- who is asking ---------------------------------------------------------------------------


def _peer_trusted(peer: str, loaded: LoadedConfig) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    networks = loaded.config.serve.auth.trusted_proxies
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def _client(peer: str, headers: Headers, loaded: LoadedConfig) -> str:
    """The client's address: the peer's, or, from a trusted proxy, the last address it added
    to X-Forwarded-For (what an untrusted peer writes there is not believed)."""
    forwarded = headers.get("x-forwarded-for")
    if forwarded and _peer_trusted(peer, loaded):
        last = forwarded.split(",")[-1].strip()
        if last:
            return last[:64]
    return peer[:64]


def _identify(loaded: LoadedConfig, headers: Headers, cookies: dict[str, str], peer: str) -> Caller:
    """The request's principal: a bearer token, else a trusted proxy's header, else the
    session cookie. Runs in a worker thread (it reads the registry)."""
    client = _client(peer, headers, loaded)
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        principal = core.authenticate_token(loaded, credential.strip())
        if principal is None:
            return Caller(None, client, refusal="the API token is unknown, expired or revoked")
        return Caller(principal, client)
    settings = loaded.config.serve.auth
    if settings.trusted_header:
        vouched = headers.get(settings.trusted_header)
        if vouched is not None and _peer_trusted(peer, loaded):
            principal = core.proxy_principal(loaded, vouched.strip())
            if principal is None:
                return Caller(None, client, refusal="the proxy's user name is not a user name")
            token = cookies.get(csrf_cookie_name(loaded), "")
            fresh = len(token) < 32
            if fresh:
                token = core.new_secret()
            return Caller(principal, client, csrf=token, new_csrf_cookie=fresh)
        if vouched is not None:
            detail = f"header from untrusted address {peer}"
            actor = vouched.strip()[:64] or "-"
            core.audit_record(loaded, actor, "proxy-header", None, "refused", client, detail)
    session_id = cookies.get(session_cookie_name(loaded))
    if session_id:
        principal = core.session_lookup(loaded, session_id)
        if principal is not None:
            return Caller(principal, client, session_id, core.csrf_token(session_id))
    return Caller(None, client)


def caller(request: HTTPConnection) -> Caller:
    """What the middleware established about ``request``."""
    found: Caller = request.state.caller
    return found


def principal_of(request: HTTPConnection) -> core.Principal | None:
    return caller(request).principal


# -- refusing --------------------------------------------------------------------------------


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def refusal(
    request: HTTPConnection, status: int, message: str, *, headers: dict[str, str] | None = None
) -> Response:
    """How a refusal is answered: JSON under /api; else a redirect to sign in (401 without a
    principal) or the refusal page."""
    if _is_api(request.url.path):
        extra = dict(headers or {})
        if status == 401:
            extra.setdefault("WWW-Authenticate", 'Bearer realm="safeship"')
        return JSONResponse({"detail": message}, status_code=status, headers=extra)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)
    context = {"status": status, "message": message}
    return page(request, "refused.html.j2", context, status=status, headers=headers)


def page(
    request: HTTPConnection,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """One of the sign-in side's pages, with what the base template needs (the navigation)."""
    from safeship.dashboard.templating import NAV

    full = {"nav": NAV, "path": request.url.path, **context}
    return templates().TemplateResponse(
        request,  # type: ignore[arg-type]  # a Request for the pages; the processors read .state
        name,
        full,
        status_code=status,
        headers=headers,
    )


async def _answer_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response


async def audit(
    request: HTTPConnection, action: str, target: str | None, outcome: str, detail: str
) -> None:
    """Record what the request did or was refused (in a worker thread: it writes)."""
    found = caller(request)
    actor = found.principal.name if found.principal else "anonymous"
    await run_in_threadpool(core.audit_record, request.app.state.loaded, actor, action, target,
                            outcome, found.client, detail)  # fmt: skip


def require(role: str, action: str | None = None) -> Callable[[Request], Awaitable[core.Principal]]:
    """A dependency: the request's principal, who must have ``role`` (or a stronger one).
    Without a principal: 401 (a page: to sign in); with a weaker role: 403. Both audited."""

    async def dependency(request: Request) -> core.Principal:
        principal = principal_of(request)
        name = action or request.path_params.get("action") or request.url.path
        target = request.query_params.get("environment")
        if target is None and "form" in request.headers.get("content-type", ""):
            target = str((await request.form()).get("environment") or "") or None
        if principal is None:
            await audit(request, str(name), target, "refused", f"not signed in (needs {role})")
            raise Refused(refusal(request, 401, f"sign in as a {role} to do this"))
        if not principal.may(role):
            await audit(request, str(name), target, "refused",
                        f"role {principal.role}; needs {role}")  # fmt: skip
            raise Refused(
                refusal(request, 403, f"{principal.name} is a {principal.role}: this needs {role}")
            )
        return principal

    return dependency


# -- the middleware --------------------------------------------------------------------------


class SecurityMiddleware:
    """Establishes ``request.state.caller`` and refuses what no route should see."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        loaded: LoadedConfig = scope["app"].state.loaded
        send = _with_headers(send, HARDENING_HEADERS)
        if not host_allowed(scope["app"], connection.headers.get("host", "")):
            answer = PlainTextResponse("unexpected Host header for a dashboard on loopback",
                                       status_code=421)  # fmt: skip
            await answer(scope, receive, send)
            return
        peer = scope["client"][0] if scope.get("client") else "-"
        found = await run_in_threadpool(
            _identify, loaded, connection.headers, dict(connection.cookies), peer
        )
        scope.setdefault("state", {})["caller"] = found
        path = connection.url.path
        method = scope["method"].upper()
        if found.refusal is not None:
            await audit(connection, "authenticate", path, "refused", found.refusal)
            await refusal(connection, 401, found.refusal)(scope, receive, send)
            return
        public = path.startswith(PUBLIC_PATHS)
        if found.principal is None and not public and reads_need_signin(scope["app"]):
            await refusal(connection, 401, "sign in to read this dashboard")(scope, receive, send)
            return
        if method not in SAFE_METHODS:
            checked = await self._check_browser_request(connection, found, scope, receive)
            if isinstance(checked, Response):
                await checked(scope, receive, send)
                return
            receive = checked
        if found.new_csrf_cookie and found.csrf:
            send = _with_cookie(send, _csrf_cookie_header(loaded, found.csrf))
        await self.app(scope, receive, send)

    async def _check_browser_request(
        self, connection: HTTPConnection, found: Caller, scope: Scope, receive: Receive
    ) -> Response | Receive:
        """An unsafe request a browser sends with ambient credentials (a cookie, a proxy's
        sign-in) must come from our own pages: same origin, and the form's CSRF token. A
        request with a bearer token is exempt (a browser never adds one by itself)."""
        principal = found.principal
        by_browser = principal is not None and principal.via in ("session", "proxy")
        if not by_browser and connection.url.path != "/signin":
            return receive
        loaded: LoadedConfig = scope["app"].state.loaded
        foreign = _foreign_origin(connection.headers, loaded)
        if foreign is not None:
            await audit(connection, "csrf", connection.url.path, "refused",
                        f"cross-origin request from {foreign}")  # fmt: skip
            return refusal(connection, 403, "refused: this request came from another site")
        if not by_browser:  # signing in: nothing to protect yet but the origin
            return receive
        supplied = connection.headers.get(CSRF_HEADER)
        replay = receive
        content_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
        if supplied is None and content_type == "application/x-www-form-urlencoded":
            body = await _read_body(receive, MAX_FORM_BYTES)
            if body is None:
                return refusal(connection, 413, "the form is too large")
            try:
                fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
            except ValueError:  # more fields than any of our forms has
                fields = {}
            values = fields.get(CSRF_FIELD)
            supplied = values[0] if values else None
            replay = _replaying(body, receive)
        if not supplied or not found.csrf or not core.same_secret(supplied, found.csrf):
            await audit(connection, "csrf", connection.url.path, "refused",
                        "missing or wrong CSRF token")  # fmt: skip
            return refusal(connection, 403, "refused: the form's security token is missing or "
                           "wrong; reload the page and try again")  # fmt: skip
        return replay


def _foreign_origin(headers: Headers, loaded: LoadedConfig) -> str | None:
    """The other site an unsafe request came from, per its Origin (else Referer); None when it
    is ours or the browser did not say."""
    origin = headers.get("origin")
    source = origin if origin is not None else headers.get("referer")
    if source is None:
        return None
    if source == "null":  # an opaque origin: a sandboxed frame, a file, a redirect chain
        return "null"
    netloc = urlsplit(source).netloc.lower()
    ours = {headers.get("host", "").lower()}
    public_url = loaded.config.serve.public_url
    if public_url:
        ours.add(urlsplit(public_url).netloc.lower())
    return None if netloc in ours else netloc[:100] or "?"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then what the server sends."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_cookie(send: Send, header: bytes) -> Send:
    return _with_headers(send, ((b"set-cookie", header),))


def _with_headers(send: Send, headers: tuple[tuple[bytes, bytes], ...]) -> Send:
    """``send`` adding ``headers`` to the response (those it does not set itself)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in headers if n == b"set-cookie" or n not in present]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return sending


def host_allowed(app: Any, host_header: str) -> bool:
    """Whether to answer a request for ``host_header``. A dashboard `safeship serve` bound to
    loopback (``app.state.host``) answers loopback names and ``[serve].public_url``'s host only:
    a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) is not answered,
    so it cannot read what loopback shows without a sign-in."""
    bound = getattr(app.state, "host", None)
    if bound is None or not is_loopback(str(bound)):
        return True
    name = urlsplit(f"//{host_header}").hostname or ""
    if is_loopback(name):
        return True
    public_url = app.state.loaded.config.serve.public_url
    return bool(public_url) and name == (urlsplit(public_url).hostname or "").lower()


def _csrf_cookie_header(loaded: LoadedConfig, token: str) -> bytes:
    secure = "; Secure" if loaded.config.serve.auth.secure_cookies else ""
    name = csrf_cookie_name(loaded)
    return f"{name}={token}; Path=/; HttpOnly; SameSite=Lax{secure}".encode()


def set_session_cookie(response: Response, loaded: LoadedConfig, session_id: str) -> None:
    settings = loaded.config.serve.auth
    response.set_cookie(
        session_cookie_name(loaded),
        session_id,
        max_age=int(settings.session_lifetime),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, loaded: LoadedConfig) -> None:
    response.delete_cookie(
        session_cookie_name(loaded),
        path="/",
        secure=loaded.config.serve.auth.secure_cookies,
        httponly=True,
        samesite="lax",
    )


# -- the templates' view of it ---------------------------------------------------------------


def _template_context(request: Request) -> dict[str, Any]:
    """``principal`` (None: nobody signed in), ``csrf_token()`` and ``csrf_input()`` (the
    hidden field every form that posts carries)."""
    found: Caller | None = getattr(request.state, "caller", None)
    token = (found.csrf if found else None) or ""

    def csrf_input() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)

    return {
        "principal": found.principal if found else None,
        "csrf_token": lambda: token,
        "csrf_input": csrf_input,
    }
