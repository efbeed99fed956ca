"""What every health check reports, whatever it checks (HTTP, database, smoke step, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

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
