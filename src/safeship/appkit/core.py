"""Health endpoints for a Python web app: registered checks, run concurrently, cached.

Three endpoints under a prefix the app chooses (``/api/health`` below, safeship's defaults):

- ``GET /api/health`` (liveness): ``{"status": "healthy", "timestamp": "..."}``, plus the
  app's ``info`` keys (e.g. its version). No dependency is checked: a process that answers is
  alive. 200, or the status an optional ``liveness`` callable returns.
- ``GET /api/health/ready`` (readiness): the checks registered with ``ready=True``.
- ``GET /api/health/deep``: every registered check.

Readiness and deep answer in the format safeship's deep level parses::

    {"status": "healthy|degraded|unhealthy", "timestamp": "...",
     "checks": {"database": {"status": "ok", "latency": 45, "critical": true}, ...}}

Each check is ok / degraded / failed with its latency in ms, whether it is critical (so safeship
judges it as the app does), and a ``detail`` line when not ok. A
failed critical check makes the answer unhealthy (HTTP 503); a degraded or failed non-critical
check makes it degraded (200). Checks run concurrently, each under its own timeout (a check
still running then is reported failed; a synchronous one runs in a daemon thread, so a hung
check can neither block the answer nor the process's exit). Answers are cached for
``cache_seconds`` and computed once for concurrent callers, so a probe storm does not hammer
the database.

Only the standard library is imported here, and asyncio only when a report is first computed,
so mounting this costs an app nothing at start-up.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    import asyncio

Status = Literal["ok", "degraded", "failed"]
Kind = Literal["live", "ready", "deep"]

_STATUSES = ("ok", "degraded", "failed")
# Headers of every answer (besides Content-Length).
HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))


@dataclass(frozen=True)
class Outcome:
    """A check's verdict with a one-line detail (shown when it is not ok)."""

    status: Status = "ok"
    detail: str = ""


# What a check callable may return: None or True (ok), False (failed), a status word, an
# Outcome; or raise (failed, with the exception's message as the detail).
CheckReturn = Outcome | str | bool | None
CheckFunction = Callable[[], CheckReturn] | Callable[[], Awaitable[CheckReturn]]


@dataclass(frozen=True)
class Check:
    name: str
    function: CheckFunction
    timeout: float
    critical: bool = True
    ready: bool = True


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def headers(self) -> list[tuple[str, str]]:
        return [*HEADERS, ("Content-Length", str(len(self.body)))]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(status: int, body: Mapping[str, Any]) -> Response:
    return Response(status, json.dumps(body).encode())


def _one_line(text: str) -> str:
    from safeship.redaction import redact

    return redact(" ".join(text.split()))[:200]


def _outcome(value: Any) -> Outcome:
    if value is None or value is True:
        return Outcome()
    if value is False:
        return Outcome("failed", "check returned False")
    if isinstance(value, Outcome):
        return value
    if isinstance(value, str) and value in _STATUSES:
        return Outcome(value)  # type: ignore[arg-type]  # narrowed by the membership test
    return Outcome("failed", f"check returned {value!r:.60}")


class HealthChecks:
    """The checks of one app and its health endpoints (``wsgi()`` / ``asgi()``)."""

    def __init__(
        self,
        prefix: str = "/api/health",
        *,
        cache_seconds: float = 2.0,
        default_timeout: float = 2.0,
        info: Mapping[str, Any] | None = None,
        liveness: Callable[[], bool | int] | None = None,
    ) -> None:
        if not prefix.startswith("/"):
            raise ValueError("prefix must start with /")
        self.prefix = prefix.rstrip("/") or "/"
        self.cache_seconds = cache_seconds
        self.default_timeout = default_timeout
        self.info = dict(info or {})
        self.liveness = liveness
        self.checks: list[Check] = []
        self._cache: dict[Kind, tuple[float, Response]] = {}
        self._thread_locks: dict[Kind, threading.Lock] = {
            "ready": threading.Lock(),
            "deep": threading.Lock(),
        }
        # Per endpoint: the event loop a lock belongs to, and the lock.
        self._async_locks: dict[Kind, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    # -- registration -----------------------------------------------------------------------

    def add(
        self,
        name: str,
        function: CheckFunction,
        *,
        timeout: float | None = None,
        critical: bool = True,
        ready: bool = True,
    ) -> None:
        """Register a check. ``timeout`` defaults to the function's own ``timeout`` attribute
        (the built-in checks have one), else ``default_timeout``."""
        if any(c.name == name for c in self.checks):
            raise ValueError(f"a check named {name!r} is already registered")
        seconds = timeout or getattr(function, "timeout", None) or self.default_timeout
        self.checks.append(Check(name, function, float(seconds), critical, ready))

    def check(
        self, name: str, *, timeout: float | None = None, critical: bool = True, ready: bool = True
    ) -> Callable[[CheckFunction], CheckFunction]:
        """Decorator form of ``add``."""

        def register(function: CheckFunction) -> CheckFunction:
            self.add(name, function, timeout=timeout, critical=critical, ready=ready)
            return function

        return register

    # -- routing ----------------------------------------------------------------------------

    def route(self, path: str) -> Kind | None:
        """Which endpoint ``path`` (the full path, mount point included) is, if any."""
        path = path.rstrip("/") or "/"
        if path == self.prefix:
            return "live"
        base = "" if self.prefix == "/" else self.prefix
        if path == base + "/ready":
            return "ready"
        if path == base + "/deep":
            return "deep"
        return None

    def not_found(self, path: str) -> Response:
        return _json(404, {"error": "not found", "path": path})

    # -- answers ----------------------------------------------------------------------------

    def live(self) -> Response:
        code = 200
        if self.liveness is not None:
            try:
                alive = self.liveness()
            except Exception:
                alive = False
            code = (200 if alive else 503) if isinstance(alive, bool) else int(alive)
        status = "healthy" if code == 200 else "unhealthy"
        return _json(code, {"status": status, "timestamp": _now(), **self.info})

    def respond_sync(self, kind: Kind) -> Response:
        """The answer for ``kind``, from synchronous code (a WSGI worker thread)."""
        if kind == "live":
            return self.live()
        cached = self._fresh(kind)
        if cached is not None:
            return cached
        with self._thread_locks[kind]:  # concurrent probes wait for one computation
            cached = self._fresh(kind)
            if cached is not None:
                return cached
            response = _run_to_completion(lambda: self._evaluate(kind))
            self._cache[kind] = (time.monotonic(), response)
            return response

    async def respond_async(self, kind: Kind) -> Response:
        """The answer for ``kind``, on the app's event loop (ASGI)."""
        if kind == "live":
            return self.live()
        cached = self._fresh(kind)
        if cached is not None:
            return cached
        import asyncio

        loop = asyncio.get_running_loop()
        owner, lock = self._async_locks.get(kind, (None, None))
        if owner is not loop or lock is None:
            lock = asyncio.Lock()
            self._async_locks[kind] = (loop, lock)
        async with lock:
            cached = self._fresh(kind)
            if cached is not None:
                return cached
            response = await self._evaluate(kind)
            self._cache[kind] = (time.monotonic(), response)
            return response

    def _fresh(self, kind: Kind) -> Response | None:
        entry = self._cache.get(kind)
        if entry is not None and time.monotonic() - entry[0] < self.cache_seconds:
            return entry[1]
        return None

    async def _evaluate(self, kind: Kind) -> Response:
        import asyncio

        checks = [c for c in self.checks if kind == "deep" or c.ready]
        outcomes = await asyncio.gather(*(_run(check) for check in checks))
        report: dict[str, dict[str, Any]] = {}
        overall = "healthy"
        for check, (outcome, latency_ms) in zip(checks, outcomes, strict=True):
            entry: dict[str, Any] = {
                "status": outcome.status,
                "latency": round(latency_ms),
                "critical": check.critical,
            }
            if outcome.status != "ok" and outcome.detail:
                entry["detail"] = outcome.detail
            report[check.name] = entry
            if outcome.status == "failed" and check.critical:
                overall = "unhealthy"
            elif outcome.status != "ok" and overall == "healthy":
                overall = "degraded"
        body = {"status": overall, "timestamp": _now(), "checks": report}
        return _json(503 if overall == "unhealthy" else 200, body)


def _run_to_completion(make: Callable[[], Awaitable[Response]]) -> Response:
    """Run a coroutine to its end from synchronous code, on a fresh event loop: in this
    thread, or in a helper thread when this one already runs a loop."""
    import asyncio

    async def main() -> Response:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    answers: list[Response] = []
    helper = threading.Thread(target=lambda: answers.append(asyncio.run(main())), daemon=True)
    helper.start()
    helper.join()
    if not answers:
        raise RuntimeError("health checks did not complete")
    return answers[0]


async def _run(check: Check) -> tuple[Outcome, float]:
    """One check under its timeout: (outcome, latency in ms)."""
    import asyncio
    import inspect

    start = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout):
            if inspect.iscoroutinefunction(check.function):
                value = await cast(Callable[[], Awaitable[CheckReturn]], check.function)()
            else:
                value = await _in_daemon_thread(check.function)
        outcome = _outcome(value)
    except TimeoutError:
        outcome = Outcome("failed", f"timeout after {check.timeout:g}s")
    except Exception as exc:
        outcome = Outcome("failed", _one_line(f"{type(exc).__name__}: {exc}"))
    return outcome, (time.perf_counter() - start) * 1000


def _in_daemon_thread(function: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run ``function`` in a new daemon thread; a future of its result on the running loop.

    Not an executor: a hung check would keep an executor's worker (and the process's exit)
    busy. A daemon thread is abandoned when its check times out.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value, error = function(), None
        except BaseException as exc:
            value, error = None, exc
        # RuntimeError: the loop is gone, the answer was given without this check.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=target, name="safeship-health-check", daemon=True).start()
    return future
