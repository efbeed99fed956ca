"""Live updates as server-sent events: ``/api/stream`` (the overview) and
``/api/deployments/{id}/stream`` (a deployment's page).

One poller per process reads the live state (``core.LiveWatcher``) four times a second while
at least one stream is open, and only for the topics someone listens to; a topic whose state
changed is sent to each of its subscribers' queues. So a state change recorded in the registry
reaches the browsers within ~0.25 s plus the network, however many are watching, and an idle
dashboard reads nothing.

Bounds: at most ``MAX_STREAMS`` open streams (503 beyond), each closed after
``STREAM_LIFETIME`` (the browser's EventSource reconnects by itself), a comment heartbeat
every ``HEARTBEAT`` seconds so proxies keep the connection, and a subscriber's queue holds only
the latest states (a slow client skips intermediate ones, it never grows memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.core import LiveWatcher

POLL_INTERVAL: Final = 0.25
# The routers' traffic figures: slower to read (see core.LiveWatcher), refreshed apart.
TRAFFIC_INTERVAL: Final = 1.0
HEARTBEAT: Final = 10.0
STREAM_LIFETIME: Final = 3600.0
MAX_STREAMS: Final = 100
QUEUE_SIZE: Final = 8
OVERVIEW: Final = "overview"

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscriber:
    topic: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def offer(self, message: str) -> None:
        """Queue ``message``; when the client lags behind, its oldest pending state goes."""
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(message)


class LiveHub:
    """The subscribers by topic and the one poller that feeds them."""

    def __init__(self, loaded: LoadedConfig, *, interval: float = POLL_INTERVAL) -> None:
        self._loaded = loaded
        self._interval = interval
        self._subscribers: set[Subscriber] = set()
        self._last: dict[str, str] = {}  # topic -> the last state sent (JSON)
        self._task: asyncio.Task[None] | None = None
        self._traffic_task: asyncio.Task[None] | None = None
        self._watcher: LiveWatcher | None = None
        self._wake = asyncio.Event()

    @property
    def open_streams(self) -> int:
        return len(self._subscribers)

    def subscribe(self, topic: str) -> Subscriber:
        if len(self._subscribers) >= MAX_STREAMS:
            raise HTTPException(503, f"too many live streams open (at most {MAX_STREAMS})")
        subscriber = Subscriber(topic)
        self._subscribers.add(subscriber)
        if topic in self._last:  # the current state at once, before any change
            subscriber.offer(self._last[topic])
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="safeship-live-poller")
        if self._traffic_task is None or self._traffic_task.done():
            self._traffic_task = asyncio.create_task(self._poll_traffic(), name="safeship-traffic")
        self._wake.set()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if not any(s.topic == subscriber.topic for s in self._subscribers):
            self._last.pop(subscriber.topic, None)

    async def stop(self) -> None:
        for task in (self._task, self._traffic_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._traffic_task = None
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.close)
            self._watcher = None

    async def _poll(self) -> None:
        while self._subscribers:
            started = time.monotonic()
            topics = {s.topic for s in self._subscribers}
            try:
                states = await asyncio.to_thread(self._read, topics)
            except Exception as exc:  # a registry hiccup: say so once a tick, keep polling
                log.warning("live: reading the state failed: %s", str(exc).splitlines()[0])
                states = {}
            for topic, state in states.items():
                if self._last.get(topic) == state:
                    continue
                self._last[topic] = state
                for subscriber in [s for s in self._subscribers if s.topic == topic]:
                    subscriber.offer(state)
            self._wake.clear()
            pause = max(0.0, self._interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _poll_traffic(self) -> None:
        """Refresh the routers' figures every TRAFFIC_INTERVAL; a change wakes the state
        poller, which sends it at once."""
        while self._subscribers:
            started = time.monotonic()
            if self._watcher is not None:
                try:
                    if await asyncio.to_thread(self._watcher.refresh_traffic):
                        self._wake.set()
                except Exception as exc:  # a router that went away: its row goes next time
                    log.warning("live: reading the traffic failed: %s", str(exc).splitlines()[0])
            await asyncio.sleep(max(0.05, TRAFFIC_INTERVAL - (time.monotonic() - started)))

    def _read(self, topics: set[str]) -> dict[str, str]:
        """Each topic's state as the JSON sent (in a worker thread: the reads block)."""
        from safeship.core import live_watcher

        if self._watcher is None:
            self._watcher = live_watcher(self._loaded)
        states: dict[str, Any] = {}
        for topic in topics:
            if topic == OVERVIEW:
                states[topic] = {
                    "environments": [e.as_json() for e in self._watcher.environments()]
                }
            else:
                found = self._watcher.deployment(topic.removeprefix("deployment:"))
                states[topic] = found.as_json() if found is not None else {"missing": True}
        return {topic: json.dumps(state, sort_keys=True) for topic, state in states.items()}


router = APIRouter(prefix="/api", tags=["live"])


def _hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live
    return hub


async def _events(request: Request, hub: LiveHub, subscriber: Subscriber) -> AsyncIterator[str]:
    deadline = time.monotonic() + STREAM_LIFETIME
    try:
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                break
            try:
                state = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            yield f"event: state\ndata: {state}\n\n"
    finally:
        hub.unsubscribe(subscriber)


def _stream(request: Request, topic: str) -> StreamingResponse:
    hub = _hub(request)
    subscriber = hub.subscribe(topic)
    return StreamingResponse(
        _events(request, hub, subscriber),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/stream",
    summary="The overview's live state (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def overview_stream(request: Request) -> StreamingResponse:
    return _stream(request, OVERVIEW)


@router.get(
    "/deployments/{deployment_id}/stream",
    summary="A deployment's live state (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def deployment_stream(request: Request, deployment_id: str) -> StreamingResponse:
    try:
        key = str(uuid.UUID(deployment_id))
    except ValueError:
        raise HTTPException(400, f"not a deployment id: {deployment_id[:40]!r}") from None
    return _stream(request, f"deployment:{key}")
