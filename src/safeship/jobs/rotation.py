"""The rotation job's reminders: each secret of ``[secrets.rotate]`` in each of its
environments, due or not (rotation/schedule.py ``due``), as ``secret.rotation_due`` alerts.

A secret due, overdue or never rotated raises ``secret.rotation_due`` (its subject: the secret,
so each secret fires and resolves alone) when it is not firing already, or fires at a lower
severity (due → overdue); one that no longer is (rotated since, or its period changed) raises
``secret.rotation_due_cleared``. The alerts go to the outbox like the drift job's (the outbox
job, or any safeship process, sends them). The last rotation is the registry's (the finish step
of the newest finished rotation there), else the date of the store's current version (a secret
stored before safeship rotated it); neither: never rotated. No value is read: the store is
asked for its versions' dates only.

core/_jobs.py runs this, then finishes the rotations whose grace period is over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from safeship.events.model import Event, EventName
from safeship.jobs.scheduler import one_line

if TYPE_CHECKING:
    from safeship.registry import Registry
    from safeship.registry.alert_states import AlertState
    from safeship.rotation.schedule import Due
    from safeship.secrets.settings import SecretsSettings

JOB: Final = "rotation"
TRIGGERED_BY: Final = "the rotation job"
_SEVERITY_RANK: Final = ("info", "warning", "error", "critical")


@dataclass
class Reminders:
    """What one pass found: each (secret, environment)'s due state, the events it raised,
    and what could not be looked at (one line each)."""

    states: dict[tuple[str, str], Due] = field(default_factory=dict)
    raised: list[Event] = field(default_factory=list)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)


def rotated_environments(config: Any) -> list[tuple[str, str]]:
    """Each (secret, environment) of ``[secrets.rotate]``: its environments in order, else
    every configured one."""
    return [
        (name, environment)
        for name, secret in config.secrets.rotate.items()
        for environment in secret.environments or list(config.environments)
    ]


def remind(
    config: Any,  # SafeshipConfig: its [secrets], [environments], [alerts] and [notify.*]
    base_dir: Path,
    registry: Registry,
    now: datetime,
    clock: Callable[[], datetime] | None = None,
) -> Reminders:
    """One pass of reminders at ``now``: alerts raised or resolved as the due states say."""
    from safeship.alerts.conditions import DUE_SEVERITY
    from safeship.alerts.service import start_alerting
    from safeship.registry.alert_states import state_key
    from safeship.rotation.schedule import due, last_rotated

    settings: SecretsSettings = config.secrets
    found = Reminders()
    firing: dict[str, dict[str, AlertState]] = {}
    alerting = start_alerting(config, registry, channels={})
    try:
        for name, environment in rotated_environments(config):
            try:
                when, by = last_rotated(registry, settings, base_dir, name, environment)
                state = due(when, settings.period(name), settings.remind_before, now)
                found.states[(name, environment)] = state
                if environment not in firing:
                    states = registry.firing_alerts(environment)
                    firing[environment] = {s.condition: s for s in states}
                current = firing[environment].get(state_key("secret.rotation_due", name))
                severity = DUE_SEVERITY.get(state.state)
                if severity is not None:
                    if current is not None and _rank(current.severity) >= _rank(severity):
                        continue  # reminded already: not again each pass
                    kind: EventName = "secret.rotation_due"
                elif current is not None:
                    kind = "secret.rotation_due_cleared"
                else:
                    continue
                event = _event(kind, config, name, environment, state, by, clock or (lambda: now))
                alerting.sink.raise_alerts(event)
                found.raised.append(event)
            except Exception as exc:  # one secret's store unreachable: the others still
                found.failed[(name, environment)] = one_line(exc)
    finally:
        alerting.close(0)
    return found


def _event(
    kind: EventName,
    config: Any,
    name: str,
    environment: str,
    state: Due,
    by: str | None,
    clock: Callable[[], datetime],
) -> Event:
    secret = config.secrets.rotate[name]
    attributes: dict[str, Any] = {
        "secret": name,
        "kind": secret.kind,
        "category": secret.category,
        "state": state.state,
        "period_days": config.secrets.period(name),
    }
    if state.next_due is not None:
        attributes["next_due"] = state.next_due.date().isoformat()
    if state.age_days is not None:
        attributes["age_days"] = round(state.age_days, 1)
    if by:
        attributes["last_rotated_by"] = by
    return Event(
        event=kind,
        timestamp=clock(),
        environment=environment,
        triggered_by=TRIGGERED_BY,
        attributes=attributes,
    )


def _rank(severity: str) -> int:
    return _SEVERITY_RANK.index(severity) if severity in _SEVERITY_RANK else 0
