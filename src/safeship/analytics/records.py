"""What the analytics give: measures with their unit and band, series for the charts, and the
report that holds them (one JSON shape for `safeship analytics --json` and the dashboard's API).
Light: no database, no git."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

Unit = str  # "per_day", "hours", "minutes", "seconds", "ratio", "count", "usd"
Band = str  # "elite", "high", "medium", "low"

# Every series a report holds (possibly empty), in the order a page shows them.
SERIES_NAMES: Final = (
    "deployments_per_day",
    "success_rate_per_day",
    "duration_seconds",
    "recovery_minutes",
    "rollbacks_by_rule",
    "latency_p95_by_version",
    "failures_by_path",
    "failures_by_hour",
    "failures_by_weekday",
    "failures_by_trigger",
)


@dataclass(frozen=True)
class Measure:
    """One figure of the period. ``value`` None: no data in the period (never a made-up 0)."""

    name: str
    label: str
    value: float | None
    unit: Unit
    band: Band | None  # DORA measures: elite, high, medium or low; else None
    detail: str  # how it was obtained: "12 deployments in 30 days"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "value": _finite(self.value),
            "unit": self.unit,
            "band": self.band,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SeriesPoint:
    """One point of a series: a day, a version, a rule, an hour ("14"), a weekday."""

    label: str
    value: float | None
    extra: Mapping[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": _finite(self.value),
            "extra": {k: _finite(v) for k, v in self.extra.items()},
        }


@dataclass(frozen=True)
class AnalyticsReport:
    """One environment's (or every one's) analytics over [since, until)."""

    environment: str | None
    since: datetime
    until: datetime
    dora: tuple[Measure, ...]
    success: tuple[Measure, ...]
    series: Mapping[str, tuple[SeriesPoint, ...]]
    # The environments the DORA measures were computed for (the production ones when no
    # environment was named).
    dora_environments: tuple[str, ...] = ()
    # The columns of ``csv_rows``, in order.
    CSV_FIELDS: ClassVar[tuple[str, ...]] = (
        "group", "name", "label", "value", "unit", "band", "detail",
    )  # fmt: skip

    def measure(self, name: str) -> Measure:
        """The DORA or success measure called ``name`` (KeyError when there is none)."""
        for m in (*self.dora, *self.success):
            if m.name == name:
                return m
        raise KeyError(name)

    def as_json(self) -> dict[str, Any]:
        """The API's and ``--json``'s shape (times in UTC, ISO 8601)."""
        return {
            "environment": self.environment,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "dora_environments": list(self.dora_environments),
            "dora": [m.as_json() for m in self.dora],
            "success": [m.as_json() for m in self.success],
            "series": {
                name: [p.as_json() for p in self.series.get(name, ())] for name in SERIES_NAMES
            },
        }

    def csv_rows(self) -> list[dict[str, str]]:
        """The measures, one row each (``--csv``): group, name, label, value, unit, band,
        detail; an empty value is no data."""
        rows = []
        for group, measures in (("dora", self.dora), ("success", self.success)):
            for m in measures:
                value = _finite(m.value)
                rows.append(
                    {
                        "group": group,
                        "name": m.name,
                        "label": m.label,
                        "value": "" if value is None else f"{value:.6g}",
                        "unit": m.unit,
                        "band": m.band or "",
                        "detail": m.detail,
                    }
                )
        return rows


CSV_FIELDS: Final = AnalyticsReport.CSV_FIELDS


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
