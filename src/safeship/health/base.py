"""The Check port, and what every health check reports, whatever it checks (HTTP, database,
smoke step, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx

CheckStatus = Literal["ok", "degraded", "failed"]
Overall = Literal["healthy", "degraded", "unhealthy"]

# How much each verdict counts towards a health score (1.0 = every check ok).
_SCORE: dict[str, float] = {"ok": 1.0, "degraded": 0.5, "failed": 0.0}


@dataclass(frozen=True)
class CheckResult:
    """One health check's outcome. ``detail`` is one line for the user ("" when ok)."""

    name: str
    status: CheckStatus
    latency_ms: float
    detail: str
    # The HTTP status the check saw, for checks that speak HTTP; None otherwise or unanswered.
    http_status: int | None = None
    # A failed critical check makes the whole verdict unhealthy; a non-critical one degrades it.
    critical: bool = True
    # 1 basic, 2 deep (the app's endpoint and dependency checks), 3 smoke, 4 baseline.
    level: int = 1

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def blocking(self) -> bool:
        """A failed critical check: the release must not take traffic."""
        return self.status == "failed" and self.critical

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = round(self.latency_ms, 1)
        return data


def overall(results: Iterable[CheckResult]) -> Overall:
    """healthy when every check is ok; unhealthy when a critical one failed; else degraded."""
    verdict: Overall = "healthy"
    for result in results:
        if result.blocking:
            return "unhealthy"
        if not result.ok:
            verdict = "degraded"
    return verdict


def score(results: Sequence[CheckResult]) -> float:
    """The mean of the verdicts (ok 1, degraded 0.5, failed 0), 1.0 without any check."""
    if not results:
        return 1.0
    return round(sum(_SCORE[r.status] for r in results) / len(results), 2)


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


class Check(Protocol):
    """One health check, ready to run: a dependency check from ``[[health.checks]]``, a smoke
    flow, the app's deep endpoint. ``run`` returns its results (one for a dependency check, one
    per step of a flow); the runner cancels it at ``timeout`` and reports it failed, so it
    need not bound itself. It must never raise for what it checks: a failure is a result.

    Constructor contract of a configured check (what the ``safeship.checks`` entry point
    names, under the ``type`` of its table): a callable ``(settings, values) -> Check``, a
    class or a function. ``settings`` is the validated table (a third party's arrives as
    ``safeship.plugins.PluginSettings``: ``name``, ``timeout``, ``critical``, and its own keys
    in ``model_extra``); ``values`` resolves the ``${NAME}`` variables of its strings. The
    check's result name is by convention ``f"{settings.type}:{settings.name}"``.
    """

    @property
    def name(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def critical(self) -> bool: ...

    @property
    def level(self) -> int: ...

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]: ...


class Values(Protocol):
    """How a check's factory reads its strings: ``${NAME}`` replaced by the variable's value
    (registered as a secret: masked in every output). A variable that is not set, or a URL
    that is invalid once resolved, is recorded against ``key`` (the setting's name, e.g.
    ``("url",)``) and reported as a config problem, ``file:line: key: message``."""

    def value(self, value: Any, key: tuple[str, ...]) -> Any: ...

    def url(self, url: str, key: tuple[str, ...], schemes: tuple[str, ...]) -> str: ...

    def headers(self, headers: Mapping[str, str], key: tuple[str, ...]) -> dict[str, str]: ...


class CheckFactory(Protocol):
    def __call__(self, settings: Any, values: Values) -> Check: ...
