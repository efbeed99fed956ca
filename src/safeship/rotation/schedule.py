"""When a secret is due: its last rotation plus its period (docs/secrets.md).

`due` is a pure function of plain values and `last_rotated` the one place a secret's last
rotation is looked up: `safeship secrets status`, the reminder job and the alerts all ask
here, so "due" means one thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from safeship.registry import Registry
    from safeship.secrets.settings import SecretsSettings

DueState = Literal["ok", "due", "overdue", "on_demand", "never_rotated"]


@dataclass(frozen=True)
class Due:
    state: DueState
    next_due: datetime | None  # None: on demand only, or never rotated
    age_days: float | None  # since the last rotation (None: never rotated)


def due(
    last_rotated: datetime | None, period_days: float, remind_before_days: float, now: datetime
) -> Due:
    """``ok`` before the reminder window; ``due`` inside it (up to the due date); ``overdue``
    after it; ``on_demand`` for a period of 0; ``never_rotated`` with a period but no rotation
    (safeship has no date to count from: it is reported, as overdue would be)."""
    age = None if last_rotated is None else (now - last_rotated).total_seconds() / 86400
    if period_days <= 0:
        return Due("on_demand", None, age)
    if last_rotated is None:
        return Due("never_rotated", None, None)
    next_due = last_rotated + timedelta(days=period_days)
    if now >= next_due:
        return Due("overdue", next_due, age)
    if now >= next_due - timedelta(days=remind_before_days):
        return Due("due", next_due, age)
    return Due("ok", next_due, age)


def last_rotated(
    registry: Registry, settings: SecretsSettings, base_dir: Path, secret: str, environment: str
) -> tuple[datetime | None, str | None]:
    """When ``secret`` was last rotated in ``environment`` and by whom (None: unknown): the
    registry's record, else the store's current version's date."""
    from safeship.secrets.base import CURRENT, open_versioned_store

    recorded = registry.last_rotated(secret, environment)
    if recorded is not None:
        return recorded
    store = open_versioned_store(environment, settings, base_dir)
    for info in store.versions(secret):
        if CURRENT in info.labels and not info.destroyed:
            return info.created_at, None
    return None, None
