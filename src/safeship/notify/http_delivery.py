"""One HTTP attempt of a channel, its outcome told as a ``DeliveryError``.

A channel makes exactly one attempt per ``send``: retries, with the server's Retry-After, are
the alerts core's. Two shapes, one mapping (``status_error``):

- ``post_once``: one POST of a ready body (Slack, the CloudEvents webhook), with no redirects.
- ``OneAttemptApi``: ``safeship.httpapi.JsonApi`` with a single attempt, for the channels
  that talk to a JSON API (PagerDuty, GitHub issues); its ``ApiError`` becomes a
  ``DeliveryError``. The status of a refused attempt comes from an httpx response hook: with
  one attempt JsonApi's "gave up" error does not carry it.

How an answer maps:

    2xx                       delivered
    429, 503                  retry, after the server's Retry-After (else the channel's hint)
    403 with a wait           the same (GitHub's rate limits: Retry-After or X-RateLimit-*)
    408, cannot connect       retry (nothing was carried out)
    other 5xx, no answer,     maybe delivered (it was sent and may have been processed); the
    a dropped connection      core retries anyway and receivers drop duplicates by id
    other 4xx, a bad URL      permanent: the URL, the credential or the payload is wrong

Messages are one line, redacted, and never carry the URL (often the credential itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, one_line, server_wait
from safeship.notify.base import DeliveryError

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_REFUSED = (429, 503)  # the server did not process it: safe to send again


def status_error(
    message: str,
    status: int,
    headers: Mapping[str, str],
    *,
    read: bool = False,
    backoff: float | None = None,
) -> DeliveryError:
    """The DeliveryError of a non-2xx answer (``read``: the request only read; its failure
    is never "maybe delivered"; ``backoff``: the wait when a refusal names none)."""
    wait = server_wait(headers, time.time())
    if status in _REFUSED or (status == 403 and wait is not None):
        return DeliveryError(message, retry_after=backoff if wait is None else wait)
    if status == 408:
        return DeliveryError(message)
    if status >= 500:
        return DeliveryError(message, maybe_delivered=not read)
    return DeliveryError(message, permanent=True)


def http_client(timeout: float) -> httpx.Client:
    """A client for one channel: ``timeout`` bounds each phase of an attempt; no redirects
    (a webhook that redirects is misconfigured, and a redirect would replay the body)."""
    return httpx.Client(timeout=timeout, follow_redirects=False)


def post_once(
    client: httpx.Client,
    url: str,
    *,
    service: str,
    content: bytes,
    headers: Mapping[str, str],
) -> httpx.Response:
    """POST ``content`` to ``url`` once; the 2xx response, or DeliveryError (one line, named
    after ``service``, without the URL: it is often the credential)."""
    try:
        response = client.post(url, content=content, headers=dict(headers))
    except httpx.UnsupportedProtocol:
        raise _error(service, "the URL is not http:// or https://", permanent=True) from None
    except httpx.InvalidURL:
        raise _error(service, "the URL is not valid", permanent=True) from None
    except _NOT_SENT as exc:
        raise _error(service, f"cannot connect ({type(exc).__name__})") from None
    except httpx.TimeoutException:
        timeout = client.timeout.read
        within = f" within {timeout:g} s" if timeout is not None else ""
        raise _error(service, f"no answer{within}", maybe_delivered=True) from None
    except httpx.TransportError as exc:
        what = f"the connection dropped ({type(exc).__name__})"
        raise _error(service, what, maybe_delivered=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    detail = _detail(response)
    if 300 <= status < 400:  # a redirect is not followed (it would resend the body elsewhere)
        what = f"unexpected HTTP {status} (redirects are not followed)"
        raise _error(service, what, permanent=True)
    what = {429: "rate limited", 503: "unavailable"}.get(
        status, "server error" if status >= 500 else ""
    )
    text = f"{what} (HTTP {status}{detail})" if what else f"HTTP {status}{detail}"
    error = status_error(one_line(f"{service}: {text}"), status, response.headers)
    if error.retry_after is not None:
        error = DeliveryError(
            one_line(f"{service}: {text}; retry after {error.retry_after:g} s"),
            retry_after=error.retry_after,
        )
    raise error


def _detail(response: httpx.Response) -> str:
    """The server's short error string (Slack's "no_service"), never an HTML page."""
    text = response.text.strip()
    ctype = response.headers.get("content-type", "").lower()
    if not text or "html" in ctype or text.lstrip().startswith("<"):
        return ""
    return f": {one_line(text, 120)}"


def _error(
    service: str,
    what: str,
    *,
    retry_after: float | None = None,
    permanent: bool = False,
    maybe_delivered: bool = False,
) -> DeliveryError:
    return DeliveryError(
        one_line(f"{service}: {what}"),
        retry_after=retry_after,
        permanent=permanent,
        maybe_delivered=maybe_delivered,
    )


class OneAttemptApi(JsonApi):
    """``JsonApi`` with one attempt per request; ``attempt`` raises DeliveryError."""

    def __init__(
        self,
        service: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        secrets: Iterable[str] = (),
        throttle_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            service, headers, timeout=timeout, retry=RetryPolicy(attempts=1), secrets=secrets
        )
        # Without a Retry-After, how long a refused (429/503) request should wait.
        self.throttle_backoff = throttle_backoff
        self._answer: tuple[int, httpx.Headers] | None = None
        self._client.event_hooks = {"request": [], "response": [self._seen]}

    def _seen(self, response: httpx.Response) -> None:
        self._answer = (response.status_code, response.headers)

    def attempt(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> tuple[int, Any]:
        """(status, body) of a 2xx answer; DeliveryError otherwise. A GET is a read: its
        failure is never "maybe delivered"."""
        self._answer = None
        read = method.upper() == "GET"
        try:
            return self.request(method, url, json=json, params=params, idempotent=read)
        except ApiError as exc:
            raise self._delivery_error(exc, read) from None

    def _delivery_error(self, exc: ApiError, read: bool) -> DeliveryError:
        message = str(exc).replace("gave up after 1 attempts: ", "")
        status, headers = self._answer or (exc.status, httpx.Headers())
        if exc.maybe_applied or (status is not None and 200 <= status < 300):
            # No answer, or an accepted request whose answer is unreadable: it may have landed.
            return DeliveryError(message, maybe_delivered=True)
        if status is None:
            return DeliveryError(message)  # could not reach it: nothing was carried out
        return status_error(message, status, headers, read=read, backoff=self.throttle_backoff)
