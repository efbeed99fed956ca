"""Freeze windows per environment: which are in force now and which come next
(`safeship freeze status`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.gates.freeze import Freeze


@dataclass(frozen=True)
class FreezePeriod:
    """One period of a freeze window: from ``start`` to ``end`` (aware, UTC), also shown in
    the window's own time zone."""

    window: str
    reason: str
    timezone: str
    start: datetime
    end: datetime
    start_local: str  # "2026-12-20 00:00 Europe/Berlin"
    end_local: str

    def as_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "reason": self.reason,
            "timezone": self.timezone,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


@dataclass(frozen=True)
class EnvironmentFreeze:
    environment: str
    windows: int  # configured in the environment
    in_force: tuple[FreezePeriod, ...]  # a deploy now fails the freeze gate when any
    upcoming: tuple[FreezePeriod, ...]  # each window's next period, soonest first

    @property
    def frozen(self) -> bool:
        return bool(self.in_force)

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "frozen": self.frozen,
            "in_force": [p.as_json() for p in self.in_force],
            "upcoming": [p.as_json() for p in self.upcoming],
        }


def freeze_status(
    loaded: LoadedConfig, environment: str | None = None, now: datetime | None = None
) -> list[EnvironmentFreeze]:
    """Each environment's freeze windows (one environment's, when named: an unknown name is
    the config's error) at ``now`` (default: the current time)."""
    from safeship.gates.freeze import freezes_in_force, next_freeze

    moment = now if now is not None else datetime.now(UTC)
    names = [environment] if environment is not None else list(loaded.config.environments)
    statuses = []
    for name in names:
        windows = loaded.environment(name).gates.freeze
        upcoming = [f for f in (next_freeze(w, moment) for w in windows) if f is not None]
        statuses.append(
            EnvironmentFreeze(
                name,
                len(windows),
                tuple(_period(f) for f in freezes_in_force(windows, moment)),
                tuple(_period(f) for f in sorted(upcoming, key=lambda f: f.start)),
            )
        )
    return statuses


def _period(freeze: Freeze) -> FreezePeriod:
    window = freeze.window
    return FreezePeriod(
        window.name,
        window.reason,
        window.timezone,
        freeze.start.astimezone(UTC),
        freeze.end.astimezone(UTC),
        freeze.local(freeze.start),
        freeze.local(freeze.end),
    )
