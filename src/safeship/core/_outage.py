"""Outage mode (`safeship outage check|status`, ``[jobs.outage]``): each environment's
availability probe, and the pause of its deploys while the probe fails. The probe and the
pause are ``safeship.pipeline.outage``'s (docs/gates/outage.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.pipeline.outage import OutageCheck


@dataclass(frozen=True)
class OutageProbe:
    """One probe of an environment and what it changed."""

    environment: str
    probe: str | None  # what was probed (a URL without credentials); None: no probe here
    up: bool | None  # None: nothing was probed
    detail: str  # one line: "HTTP 200", "status.indicator major (...)", "no answer within 5 s"
    seconds: float
    failures: int  # consecutive failed probes now
    threshold: int  # failed probes in a row that pause deploys
    paused_since: datetime | None  # deploys paused since then; None: not paused
    change: str | None  # "paused", "resumed", or None


@dataclass(frozen=True)
class OutageState:
    """An environment's outage state, as the registry has it."""

    environment: str
    probe: str | None
    threshold: int
    failures: int  # consecutive failed probes (0: the last probe answered)
    paused_since: datetime | None
    reason: str | None  # the last failure
    last_lifted_at: datetime | None  # when the last pause was lifted


def outage_check(loaded: LoadedConfig, environments: Sequence[str] = ()) -> list[OutageProbe]:
    """Probe each environment (default: every configured one) once now, pausing or resuming
    its deploys as the results say; the alerts are sent before this returns."""
    from safeship.pipeline.outage import check_environments

    names = _names(loaded, environments)
    return [_probe(check) for check in check_environments(loaded, names)]


def outage_status(loaded: LoadedConfig, environments: Sequence[str] = ()) -> list[OutageState]:
    from safeship.pipeline.outage import probe_of
    from safeship.registry import Registry

    states = []
    with Registry(loaded.registry_url()) as registry:
        for name in _names(loaded, environments):
            settings = loaded.environment(name)
            probe = probe_of(settings)
            rows = registry.environment_pauses(name, limit=2)
            current = rows[0] if rows and rows[0].lifted_at is None else None
            lifted = next((r.lifted_at for r in rows if r.since and r.lifted_at), None)
            states.append(
                OutageState(
                    environment=name,
                    probe=probe.shown if probe else None,
                    threshold=settings.outage.failures,
                    failures=current.failures if current else 0,
                    paused_since=current.since if current else None,
                    reason=current.reason if current else None,
                    last_lifted_at=lifted,
                )
            )
    return states


def _names(loaded: LoadedConfig, environments: Sequence[str]) -> list[str]:
    for name in environments:
        loaded.environment(name)  # an unknown one: the config's error
    return list(environments) or list(loaded.config.environments)


def _probe(check: OutageCheck) -> OutageProbe:
    answer = check.answer
    return OutageProbe(
        environment=check.environment,
        probe=check.probe.shown if check.probe else None,
        up=answer.up if answer else None,
        detail=answer.detail if answer else "no probe configured",
        seconds=answer.seconds if answer else 0.0,
        failures=check.failures,
        threshold=check.threshold,
        paused_since=check.paused_since,
        change=check.change,
    )
