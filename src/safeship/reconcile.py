"""After a create request failed ambiguously: adopt what it created, or say why not.

A request that creates something (a workflow run, a CircleCI pipeline, a Railway deployment) is
never resent once it may have reached the service (see safeship.httpapi). Instead, what the
service listed just before the request is compared with what it lists after: the one new item
is the request's and is adopted, with one line saying so. None within the timeout, or more than
one (another trigger ran meanwhile): one line, nothing resent. The GitHub Actions, CircleCI
and railway-native paths and the Railway client all reconcile this way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from safeship.httpapi import ApiError, JsonApi, one_line


class Listed(Protocol):
    """Anything a service lists with an id and when it was created."""

    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Listed)


@dataclass(frozen=True)
class Created:
    """Something a trigger request creates (a workflow run, a pipeline): its id and when."""

    id: str
    created_at: str = ""
    url: str | None = None


class NotAdopted(Exception):
    """Nothing could be adopted after an ambiguous failure; the message is one line (nothing
    was resent)."""


@dataclass(frozen=True)
class Request:
    """The request that failed ambiguously, as the lines name it.

    ``service``: the lines' prefix ("github"); ``request``: what was sent ("the workflow
    dispatch"); ``why``: how it failed ("the connection dropped"); ``noun``: what it creates
    ("run"); ``where``: what to check before trying again (default: the service);
    ``unlisted``: the line's words when listing fails.
    """

    service: str
    request: str
    why: str
    noun: str
    where: str = ""
    unlisted: str = "what it created could not be listed"


def adopt_created(
    sent: Request,
    listing: Callable[[], list[ItemT]],
    known: set[str],
    *,
    listing_errors: tuple[type[Exception], ...],
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[ItemT, str]:
    """The one item that ``listing`` shows and ``known`` (the ids listed just before the
    request) did not, and the line that says it was adopted. NotAdopted when none appears
    within ``timeout``, more than one did, or listing fails with one of ``listing_errors``."""
    service, why, noun = sent.service, sent.why or "the request failed", sent.noun
    after = f"{service}: {why} after {sent.request} was sent"
    not_resent = f"not resent: check {sent.where or service} before trying again"
    deadline = time.monotonic() + timeout
    while True:
        try:
            new = [item for item in listing() if item.id not in known]
        except listing_errors as exc:
            detail = str(exc).removeprefix(f"{service}: ")
            raise NotAdopted(
                one_line(f"{after}, and {sent.unlisted} ({detail}); {not_resent}")
            ) from None
        if len(new) == 1:
            item = new[0]
            when = f" created at {item.created_at}" if item.created_at else ""
            return item, f"{after}; adopted {noun} {item.id}{when}"
        if len(new) > 1:
            ids = ", ".join(item.id for item in new)
            raise NotAdopted(
                one_line(
                    f"{after}, and {len(new)} {noun}s appeared since ({ids}): cannot tell "
                    f"which is this request's; {not_resent}"
                )
            )
        if time.monotonic() >= deadline:
            raise NotAdopted(
                one_line(f"{after}, and no new {noun} appeared within {timeout:g} s; {not_resent}")
            )
        sleep(interval)


@dataclass(frozen=True)
class Posted(Generic[ItemT]):
    """How a create request went: the service's ``answer``, or, after an ambiguous failure,
    the item ``adopted`` in its place and the ``line`` that says so."""

    answer: Any = None
    adopted: ItemT | None = None
    line: str = ""


def post_or_adopt(
    api: JsonApi,
    url: str,
    body: Any,
    sent: Request,
    listing: Callable[[], list[ItemT]],
    *,
    error: type[Exception],
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Posted[ItemT]:
    """POST a create request once; if it failed after it may have reached the service, adopt
    what it created (``adopt_created``) instead of sending it again. Every failure is one
    ``error`` line: the request's own, or why nothing could be adopted. ``sent.why`` is filled
    in from the failure."""
    before = {item.id for item in listing()}
    try:
        _, answer = api.request("POST", url, json=body, idempotent=False)
    except ApiError as exc:
        if not exc.maybe_applied:
            raise error(str(exc)) from None
        try:
            item, line = adopt_created(
                replace(sent, why=exc.what),
                listing,
                before,
                listing_errors=(ApiError, error),
                timeout=timeout,
                interval=interval,
                sleep=sleep,
            )
        except NotAdopted as not_adopted:
            raise error(str(not_adopted)) from None
        return Posted(adopted=item, line=line)
    return Posted(answer=answer)
