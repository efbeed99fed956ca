"""Routing: which channels an alert goes to, in fallback order.

Each matching route gives one *delivery*: its channels in order (the first is tried; when its
retries fail, the next). Routes are matched in order and the first match stops the search,
unless it says ``continue = true``. With no ``[[alerts.routes]]`` the defaults (the
architecture's) are one route per configured channel:

each adapter's ``default_route`` (safeship.notify.base.RouteDefaults):

- pagerduty: critical alerts of production environments, and deployment.succeeded/failed of
  production (its adapter turns those into Change Events, never pages);
- github-issue: deployment.failed (a failed or a rolled-back deploy: one issue, not one for
  the rollback and another for the failure);
- every other channel: everything, severity info and up.

A route's ``conditions`` name conditions or families of them: ``secret.*`` takes every
condition whose name starts with ``secret.`` (the security team's route, docs/secrets.md).

A resolved alert is not routed: it goes where its firing alert went (the sink reads that from
the registry's alert_states).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from safeship.alerts.settings import RouteSettings
from safeship.notify.base import Alert, RouteDefaults, severity_rank


@dataclass(frozen=True)
class Route:
    conditions: frozenset[str]  # empty: all; "secret.*": every condition starting "secret."
    environments: frozenset[str]  # empty: all
    min_severity: int  # severity_rank
    channels: tuple[str, ...]
    continue_: bool = True
    production_only: bool = False
    also: frozenset[str] = frozenset()  # conditions taken whatever their severity (production)

    def matches(self, alert: Alert, production: Collection[str]) -> bool:
        prod = alert.environment in production
        if self.production_only and not prod:
            return False
        if self.environments and alert.environment not in self.environments:
            return False
        if alert.condition in self.also:
            return True
        if self.conditions and not condition_matches(self.conditions, alert.condition):
            return False
        return severity_rank(alert.severity) >= self.min_severity


def condition_matches(patterns: Collection[str], condition: str) -> bool:
    """Whether ``condition`` is one of ``patterns`` or in one of their families (``secret.*``)."""
    if condition in patterns:
        return True
    return any(p.endswith(".*") and condition.startswith(p[:-1]) for p in patterns)


def routes_from(
    settings: Sequence[RouteSettings], channels: Sequence[str] | Mapping[str, RouteDefaults]
) -> list[Route]:
    """The configured routes, or the defaults of the configured ``channels``: each one's
    ``RouteDefaults`` as given, or (a name alone) its adapter's."""
    if settings:
        return [
            Route(
                frozenset(r.conditions),
                frozenset(r.environments),
                severity_rank(r.min_severity),
                tuple(r.channels),
                r.continue_,
            )
            for r in settings
        ]
    if not isinstance(channels, Mapping):
        channels = {name: adapter_route(name) for name in channels}
    return [default_route(name, defaults) for name, defaults in channels.items()]


def adapter_route(channel: str) -> RouteDefaults:
    """``Notifier.default_route`` of the adapter registered as ``channel``."""
    from safeship.plugins import NOTIFIERS, load_adapter

    defaults: RouteDefaults = load_adapter(NOTIFIERS, channel).default_route
    return defaults


def default_route(channel: str, defaults: RouteDefaults) -> Route:
    return Route(
        frozenset(defaults.conditions),
        frozenset(),
        severity_rank(defaults.min_severity),
        (channel,),
        production_only=defaults.production_only,
        also=frozenset(defaults.also),
    )


def deliveries(
    alert: Alert, routes: Sequence[Route], production: Collection[str]
) -> list[tuple[str, ...]]:
    """Each matching route's channel list (first channel first); one per distinct first
    channel, so two routes naming the same channel send it once."""
    found: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for route in routes:
        if not route.matches(alert, production):
            continue
        if route.channels[0] not in seen:
            seen.add(route.channels[0])
            found.append(route.channels)
        if not route.continue_:
            break
    return found
