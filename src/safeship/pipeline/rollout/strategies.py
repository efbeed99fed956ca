"""Strategies: how traffic moves to a new release, as a plan of steps.

Each strategy is an object that turns the environment's settings into a :class:`Plan`: the
traffic steps (the new release's weight, whether the canary judge compares at the step,
whether it waits for `safeship promote` after its bake) and how long the old release is kept
warm after full traffic (the monitoring window). They are chosen by name in one place,
:func:`strategy_named`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from safeship.config.models import EnvironmentSettings


@dataclass(frozen=True)
class Step:
    """One traffic step: the new release's weight (percent)."""

    weight: int
    judged: bool = False  # the canary judge compares it with the stable release here
    pause: bool = False  # after its bake, wait for `safeship promote` (or an abort)


@dataclass(frozen=True)
class Plan:
    """How a deployment moves traffic."""

    strategy: str  # the name recorded with the deployment
    steps: tuple[Step, ...]
    bakes: bool = True  # False: a manual rollback, traffic moves at once with no bake
    # After full traffic, the rules keep running this long while the old release stays warm
    # for a rollback (0: not monitored).
    keep_warm: float = 0.0


class Strategy(Protocol):
    name: str

    def plan(self, settings: EnvironmentSettings, *, has_stable: bool, bakes: bool) -> Plan:
        """The plan for a deployment; ``has_stable``: a release serves the environment now
        (else it is the first: it gets all traffic at once, with nothing to monitor against);
        ``bakes`` False: a manual rollback."""
        ...


def _all_at_once(strategy: str, bakes: bool, keep_warm: float = 0.0) -> Plan:
    return Plan(strategy, (Step(100),), bakes, keep_warm if bakes else 0.0)


class AllAtOnce:
    """All traffic to the new release once it is healthy, then the monitoring window."""

    name = "all-at-once"

    def plan(self, settings: EnvironmentSettings, *, has_stable: bool, bakes: bool) -> Plan:
        return _all_at_once(self.name, bakes, settings.monitor_time if has_stable else 0.0)


class Canary:
    """Traffic in ``steps``, each baked (and judged, with ``analysis`` set); ``pause_at``
    steps wait for `safeship promote`."""

    name = "canary"

    def plan(self, settings: EnvironmentSettings, *, has_stable: bool, bakes: bool) -> Plan:
        if not has_stable:
            return _all_at_once(AllAtOnce.name, bakes)
        if not bakes:
            return _all_at_once(self.name, bakes)
        judging = settings.analysis is not None
        steps = tuple(
            Step(weight, judged=judging and weight < 100, pause=weight in settings.pause_at)
            for weight in settings.steps
        )
        return Plan(self.name, steps, bakes, settings.monitor_time)


class BlueGreen:
    """All traffic to green at once; blue is kept warm (and the rules watched) for
    ``blue_green.keep_warm`` seconds, or the monitoring window if longer."""

    name = "blue-green"

    def plan(self, settings: EnvironmentSettings, *, has_stable: bool, bakes: bool) -> Plan:
        if not has_stable:
            return _all_at_once(AllAtOnce.name, bakes)
        warm = max(settings.monitor_time, settings.blue_green.keep_warm)
        return _all_at_once(self.name, bakes, warm)


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (AllAtOnce(), Canary(), BlueGreen())}


class UnknownStrategy(ValueError):
    """No strategy has that name. The message is one line."""


def strategy_named(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise UnknownStrategy(f"unknown strategy {name!r} (one of: {known})") from None
