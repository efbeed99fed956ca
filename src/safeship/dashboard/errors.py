"""How an error becomes an answer: one line, the right status, never a traceback.

The core's errors are recognised by ``core._errors`` (the CLI's list too), by name among the
modules already loaded: the dashboard may not import the registry or the pipeline.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safeship.core._errors import error_kind
from safeship.validation import printable

log = logging.getLogger(__name__)

MAX_LINE: Final = 300
_NOT_FOUND: Final = ("no deployment", "unknown environment", "not found")


def one_line(exc: BaseException) -> str:
    problems = getattr(exc, "problems", None)
    text = "; ".join(problems) if isinstance(problems, list) and problems else str(exc)
    first = printable(text.strip().splitlines()[0]) if text.strip() else type(exc).__name__
    return first[:MAX_LINE]


def status_of(exc: BaseException) -> int:
    kind = error_kind(exc)
    if kind in ("problems", "usage"):
        return 404 if any(w in str(exc) for w in _NOT_FOUND) else 400
    if kind == "failure":
        return 400 if "id prefix" in str(exc) or "not a deployment" in str(exc) else 503
    return 500


def validation_message(exc: RequestValidationError) -> str:
    """The first problem of a request's parameters, in one line: ``limit: ...``."""
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        return printable(f"{where or 'request'}: {error.get('msg', 'invalid')}")[:MAX_LINE]
    return "invalid request"


def _answer(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    from safeship.dashboard.pages import render

    return render(request, "error.html.j2", status_code=status, status=status, message=message)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _answer(request, 422, validation_message(exc))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _answer(request, exc.status_code, printable(str(exc.detail))[:MAX_LINE])


class OneLineErrors:
    """Any other exception a route raises, as one line with its status (400, 404, 503 or
    500), instead of a traceback; the server log gets the 500s' one line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # a stream already under way: nothing else can be said
                raise
            response = await on_error(Request(scope), exc)
            await response(scope, receive, send)


async def on_error(request: Request, exc: Exception) -> Response:
    status = status_of(exc)
    message = one_line(exc)
    if status == 500:
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, message)
        message = f"unexpected {type(exc).__name__}: {message}"
    return _answer(request, status, message)
