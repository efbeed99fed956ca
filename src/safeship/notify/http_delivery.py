"""One HTTP attempt of a channel, its failure said as a ``DeliveryError``.

A channel makes one attempt per send (the alerts core retries, honouring ``retry_after``), so the
``JsonApi`` here runs with a single attempt and its ``ApiError`` becomes a ``DeliveryError``:

    429, 503          retry after the server's Retry-After (else the channel's backoff hint)
    403 with a wait   the same (GitHub's rate limits: Retry-After or X-RateLimit-Remaining: 0)
    408, cannot reach retry (nothing was carried out)
    other 4xx         permanent: the URL, the credential or the payload is wrong
    5xx, no answer    maybe delivered (a mutation: the server may have carried it out)
    2xx unreadable    maybe delivered (accepted, but what it answered cannot be read)

The status of a refused attempt comes from an httpx response hook: with one attempt JsonApi's
"gave up" error does not carry it. Messages are JsonApi's: one line, credentials masked.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from safeship.httpapi import ApiError, JsonApi, RetryPolicy, server_wait
from safeship.notify.base import DeliveryError

_REFUSED = (429, 503)  # the server did not process it: safe to send again


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
        wait = server_wait(headers, time.time())
        if status in _REFUSED or (status == 403 and wait is not None):
            return DeliveryError(
                message, retry_after=self.throttle_backoff if wait is None else wait
            )
        if status is None or status == 408:
            return DeliveryError(message)  # could not reach it, or it timed the request out
        if status >= 500:
            return DeliveryError(message, maybe_delivered=not read)
        return DeliveryError(message, permanent=True)
