"""Signing in and out: GET/POST /signin, POST /signout (docs/security.md).

A sign-in starts a new session (a fresh random id: one planted before sign-in is never
promoted), sets it in an HttpOnly, SameSite=Lax, Secure ``__Host-`` cookie, and goes back to
``next`` when it is a path of this site (never elsewhere: no open redirect).
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from safeship import core
from safeship.dashboard import security

router = APIRouter(include_in_schema=False)

MAX_FIELD: Final = 1024


def local_path(target: str | None) -> str:
    """``target`` when it is a path on this site ("/…", not "//host" nor "/\\host"), else "/"."""
    if not target or len(target) > 2048 or not target.startswith("/"):
        return "/"
    if target.startswith(("//", "/\\")) or any(ord(c) < 32 or c == "\\" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _signin_page(
    request: Request, next_path: str, *, error: str | None = None, user: str = "", status: int = 200
) -> Response:
    headers = {"Cache-Control": "no-store"}
    context = {"next": next_path, "error": error, "user": user}
    return security.page(request, "signin.html.j2", context, status=status, headers=headers)


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    return _signin_page(request, local_path(next))


@router.post("/signin")
async def signin(
    request: Request,
    username: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    loaded = request.app.state.loaded
    target = local_path(next)
    client = security.caller(request).client
    user = username.strip()
    try:
        principal = await run_in_threadpool(
            core.authenticate_password, loaded, user, password, client
        )
    except core.SigninThrottled as exc:
        page = _signin_page(request, target, error=str(exc), user=user, status=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except core.AuthError as exc:
        return _signin_page(request, target, error=str(exc), user=user, status=401)
    old = security.caller(request).session_id
    if old:  # a new sign-in replaces the session this browser had
        await run_in_threadpool(core.session_end, loaded, old)
    session_id = await run_in_threadpool(core.session_start, loaded, principal)
    response = RedirectResponse(target, status_code=303)
    security.set_session_cookie(response, loaded, session_id)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session (the middleware checked the form's CSRF token: no site can sign a user
    out behind their back)."""
    loaded = request.app.state.loaded
    found = security.caller(request)
    response = RedirectResponse("/", status_code=303)
    security.clear_session_cookie(response, loaded)
    if found.session_id and found.principal is not None:
        await run_in_threadpool(core.session_end, loaded, found.session_id)
        await security.audit(request, "signout", found.principal.name, "ok", "session ended")
    return response
