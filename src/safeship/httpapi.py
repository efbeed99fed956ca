"""A small JSON-over-HTTP client for SaaS APIs (Railway, GitHub, CircleCI): bounded retries,
rate limits honoured, one-line errors that never contain a credential.

Decisions:

- A request that may have been carried out is never sent twice. Every request is idempotent
  (a read: GET, a GraphQL query) or not (a mutation, a POST that starts something); the caller
  says which (``idempotent=``; by default GET, HEAD, PUT and DELETE are).
- Any request is retried when it provably did not take effect: the connection could not be
  opened (refused, DNS, TLS handshake, connect timeout, no free connection in the pool: nothing
  was sent), or the server answered 429 or 503 (it refused the request; RFC 9110 §15.5.30 and
  §15.6.4), honouring Retry-After within ``max_wait``.
- An idempotent request is also retried after a failure once it was sent: a read timeout, a
  dropped connection, another 5xx.
- A non-idempotent request that failed after it was sent (no answer in time, the connection
  dropped, a 5xx other than 503) is not resent: ``ApiError.maybe_applied`` is True, and the
  caller reconciles (looks for what the request created) instead of guessing.
- The wait before a retry is the server's: ``Retry-After`` (seconds or an HTTP date), else
  ``X-RateLimit-Reset`` when ``X-RateLimit-Remaining`` is 0 (epoch seconds when large, else
  seconds from now), else exponential backoff. A wait longer than ``max_wait`` is not slept
  through: the call fails at once and says when to try again.
- An HTML answer (a CDN's throttle or outage page) is never parsed as JSON. With 429 or 503 it
  counts as a throttle and is retried like them; otherwise it is a one-line error.
- Every message goes through ``safeship.redaction.redact`` and the credentials given to the
  client are registered as secrets, so a token echoed by a server is masked too.
"""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from safeship.redaction import redact, register_secret

_MAX_MESSAGE = 300
# Answers that say the request was refused, not processed: retried whatever the request.
_THROTTLE_STATUSES = (429, 503)
# Failures before anything was sent: the request cannot have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ApiError(Exception):
    """An API call failed; the message is one line without credentials.

    ``maybe_applied``: a non-idempotent request failed after it was sent (no answer, the
    connection dropped, a 5xx): the server may have carried it out. It was not resent; the
    caller reconciles (looks for its effect) before doing anything else. ``what``: how it
    failed, for the caller's line ("the connection dropped", "no answer came", ...).
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        maybe_applied: bool = False,
        what: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.maybe_applied = maybe_applied
        self.what = what


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, including the first
    backoff: float = 0.5  # first wait without a server hint; doubles each retry
    max_wait: float = 30.0  # longest single wait honoured


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """``text`` redacted, on one line, trimmed to ``limit`` characters."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def notice_to_stderr(line: str) -> None:
    """Where a client's one-line notes go by default (what reconciling found): stderr."""
    print(f"safeship: {one_line(line, 400)}", file=sys.stderr, flush=True)


def _parse_retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def server_wait(headers: Mapping[str, str], now: float) -> float | None:
    """How long the server asks us to wait, from Retry-After or X-RateLimit-*; None if silent."""
    wait = _parse_retry_after(headers.get("retry-after"), now)
    if wait is not None:
        return wait
    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        try:
            reset = float(headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return None
        return max(0.0, reset - now) if reset > 1e9 else max(0.0, reset)
    return None


def _is_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    if "html" in ctype:
        return True
    return response.content[:64].lstrip().lower().startswith((b"<!doctype", b"<html"))


def _error_text(body: Any) -> str:
    """The server's own error message from a JSON body, if it has one."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict) and isinstance(first.get("message"), str):
                return str(first["message"])
            if isinstance(first, str):
                return first
    return ""


class JsonApi:
    """One service's HTTP API. ``service`` prefixes every error (e.g. "railway")."""

    def __init__(
        self,
        service: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        retry: RetryPolicy | None = None,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for secret in secrets:
            register_secret(secret)
        self.service = service
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timeout = timeout
        self._client = httpx.Client(headers=dict(headers), timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def _fail(self, what: str, status: int | None = None) -> ApiError:
        return ApiError(one_line(f"{self.service}: {what}"), status)

    def _maybe_applied(self, what: str, short: str, status: int | None = None) -> ApiError:
        """A non-idempotent request failed after it was sent: not resent, for reconciling."""
        return ApiError(
            one_line(
                f"{self.service}: {what} after the request was sent (not resent: it may have "
                "been carried out)"
            ),
            status,
            maybe_applied=True,
            what=short,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        idempotent: bool | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or None when empty) of a 2xx answer; ApiError otherwise."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        attempts = max(1, self.retry.attempts)
        last = "no answer"
        host = httpx.URL(url).host
        for attempt in range(attempts):
            final = attempt == attempts - 1
            backoff = self.retry.backoff * (2**attempt)
            try:
                response = self._client.request(method, url, json=json, params=params)
            except httpx.UnsupportedProtocol:
                raise self._fail("the API URL is not http:// or https://") from None
            except _NOT_SENT as exc:  # nothing was sent: safe to try again, mutation or not
                last = f"cannot reach {host}: {type(exc).__name__}"
                if not final:
                    self._sleep(min(backoff, self.retry.max_wait))
                continue
            except httpx.TransportError as exc:  # sent, then no (complete) answer
                if isinstance(exc, httpx.TimeoutException):
                    last, short = f"no answer within {self._timeout:g} s", "no answer came"
                else:
                    last = f"the connection to {host} dropped ({type(exc).__name__})"
                    short = "the connection dropped"
                if not idempotent:
                    raise self._maybe_applied(last, short) from None
                if not final:
                    self._sleep(min(backoff, self.retry.max_wait))
                continue
            status = response.status_code
            html = _is_html(response)
            throttled = status in _THROTTLE_STATUSES
            if throttled or status >= 500 or html:
                if html:
                    kind = "throttle or outage page" if throttled or status >= 500 else "page"
                    last = f"answered with an HTML {kind} (HTTP {status}), not JSON"
                elif status == 429:
                    last = "rate limited (HTTP 429)"
                else:
                    last = f"server error (HTTP {status})"
                if not (throttled or (idempotent and status >= 500)):
                    if status >= 500:  # a mutation answered 500/502/504 may have been applied
                        short = f"the server answered HTTP {status}"
                        raise self._maybe_applied(last, short, status)
                    raise self._fail(last, status)
                wait = server_wait(response.headers, time.time())
                if wait is not None and wait > self.retry.max_wait:
                    raise self._fail(f"{last}; the server asks to retry after {wait:.0f} s", status)
                if not final:
                    self._sleep(backoff if wait is None else wait)
                continue
            return status, self._body(response)
        raise self._fail(f"gave up after {attempts} attempts: {last}")

    def _body(self, response: httpx.Response) -> Any:
        status = response.status_code
        body: Any = None
        if response.content.strip():
            try:
                body = response.json()
            except ValueError:
                raise self._fail(
                    f"answered with something that is not JSON (HTTP {status})", status
                ) from None
        if status in (401, 403):
            detail = _error_text(body)
            suffix = f": {detail}" if detail else ""
            raise self._fail(f"the credentials were rejected (HTTP {status}{suffix})", status)
        if status >= 400:
            detail = _error_text(body) or "no message"
            raise self._fail(f"HTTP {status}: {detail}", status)
        if status >= 300:
            raise self._fail(f"unexpected redirect (HTTP {status})", status)
        return body
