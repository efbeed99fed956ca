"""One POST to a channel's HTTP endpoint, its outcome told as a ``DeliveryError``.

The channels that post (Slack, the CloudEvents webhook) make exactly one attempt per ``send``:
retries, with the server's Retry-After, are the alerts core's. So this is not
``safeship.httpapi.JsonApi`` (which retries inside the call and keeps the server's wait to
itself); it reuses its reading of the wait (``server_wait``) and its one-line, redacted texts.

How an answer maps (``safeship.notify.base.DeliveryError``):

- 2xx: delivered.
- 429, or 503 (the server refused the request): retry, after its Retry-After when it gives one.
- 408: retry (the server gave up waiting for the body; nothing was processed).
- Another 5xx, a read timeout, a dropped connection: ``maybe_delivered`` (the request was sent
  and may have been processed); the core retries anyway and receivers drop duplicates by id.
- The connection could not be opened (refused, DNS, connect timeout): retry, nothing was sent.
- Another 4xx (the URL, the token or the payload is wrong), or a URL that is not http(s):
  ``permanent``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from safeship.httpapi import one_line, server_wait
from safeship.notify.base import DeliveryError

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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
    if status in (429, 503):
        wait = server_wait(response.headers, time.time())
        after = f"; retry after {wait:g} s" if wait is not None else ""
        what = "rate limited" if status == 429 else "unavailable"
        raise _error(service, f"{what} (HTTP {status}{detail}){after}", retry_after=wait)
    if status == 408:
        raise _error(service, f"HTTP 408{detail}")
    if status >= 500:
        raise _error(service, f"server error (HTTP {status}{detail})", maybe_delivered=True)
    if status >= 400:
        raise _error(service, f"HTTP {status}{detail}", permanent=True)
    # 1xx/3xx: a redirect is not followed (it would resend the body somewhere else).
    raise _error(service, f"unexpected HTTP {status} (redirects are not followed)", permanent=True)


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
