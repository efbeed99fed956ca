"""What every health check reports, whatever it checks (HTTP, database, smoke step, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CheckStatus = Literal["ok", "degraded", "failed"]


@dataclass(frozen=True)
class CheckResult:
    """One health check's outcome. ``detail`` is one line for the user ("" when ok)."""

    name: str
    status: CheckStatus
    latency_ms: float
    detail: str
    # The HTTP status the check saw, for checks that speak HTTP; None otherwise or unanswered.
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"
