"""Deployments of one environment: the entry point of a rollout.

The rollout itself is in parts under :mod:`safeship.pipeline.rollout` (run state, strategies,
watchers, endings, the run) and :mod:`safeship.analysis.bake`; this module wires the ports
into them and keeps the names its callers import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safeship.analysis.bake import Clock
from safeship.analysis.metrics import CounterSource, MetricSource
from safeship.config.models import EnvironmentSettings
from safeship.events import EventBus
from safeship.gates.base import GateContext
from safeship.gates.runner import GateRunner
from safeship.pipeline.rollout.endings import Releases
from safeship.pipeline.rollout.outcome import (
    DeploymentOutcome,
    DeployRefused,
    Interrupted,
    LiveSnapshot,
)
from safeship.pipeline.rollout.run import Rollout
from safeship.pipeline.rollout.state import RunState
from safeship.pipeline.rollout.strategies import UnknownStrategy, strategy_named
from safeship.plugins import METRIC_SOURCES, load_adapter
from safeship.registry import Registry
from safeship.registry.records import DeploymentNotes
from safeship.routing.base import Router
from safeship.targets.base import Target

__all__ = ["DeployRefused", "Deployer", "DeploymentOutcome", "Interrupted", "LiveSnapshot"]


class Deployer:
    """Runs deployments of one environment. The caller holds the environment's lease."""

    def __init__(
        self,
        environment: str,
        settings: EnvironmentSettings,
        target: Target,
        router: Router,
        registry: Registry,
        bus: EventBus,
        on_progress: Callable[[LiveSnapshot], None] | None = None,
        env_gate: Callable[[], list[str]] | None = None,
        on_created: Callable[[str], None] | None = None,
        run_dir: Path | None = None,
        *,
        metrics: MetricSource | CounterSource | None = None,
        clock: Clock | None = None,
        gates: GateRunner | None = None,
        gate_context: Callable[[RunState, Releases], GateContext] | None = None,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.target = target
        self.router = router
        self.registry = registry
        self.bus = bus
        self._on_progress = on_progress
        # Checks the target's variables against the env schema; returns the problems (redacted).
        self.env_gate = env_gate
        # Told the new deployment's id once its row exists (the environment lease records it).
        self.on_created = on_created
        # Where a rollback writes its registry update before moving traffic (pipeline.intent);
        # None: no intent file (the registry write then follows the switch all the same).
        self.run_dir = run_dir
        # Where the rules and the judge read each release's traffic: the environment's metric
        # source ([metrics] source, from the plugin registry; the router's stats by default)
        # unless another source is given.
        self.metrics = metrics or load_adapter(METRIC_SOURCES, settings.metrics.source)(
            router, environment, settings.metrics
        )
        self.clock = clock
        # The environment's gates and how to make their context (the core's, which knows the
        # config and who asked); None: no gates.
        self.gates = gates
        self.gate_context = gate_context

    def deploy(
        self,
        version: str,
        *,
        commit: str | None = None,
        triggered_by: str = "cli",
        strategy: str | None = None,
        notes: DeploymentNotes | None = None,
        bake: bool = True,
    ) -> DeploymentOutcome:
        """Run one deployment; ``notes`` are stored with it from the start.

        ``bake=False`` (a manual rollback): once the release is healthy, all traffic moves to
        it at once, with no bake, no level-4 baseline and no monitoring window.
        """
        try:
            chosen = strategy_named(strategy or self.settings.strategy)
        except UnknownStrategy as exc:
            raise DeployRefused(str(exc)) from None
        state = RunState(
            self.environment,
            version,
            commit=commit,
            triggered_by=triggered_by,
            registry=self.registry,
            bus=self.bus,
            router=self.router,
            on_progress=self._on_progress,
            clock=self.clock,
        )
        releases = Releases(
            version, self.target, self.router, self.metrics, self.settings.drain_timeout
        )
        rollout = Rollout(
            state,
            releases,
            self.settings,
            chosen,
            bakes=bake,
            env_gate=self.env_gate,
            gates=self.gates,
            gate_context=self.gate_context,
            run_dir=self.run_dir,
            clock=self.clock,
        )
        deployment_id = rollout.start(notes or DeploymentNotes())
        if self.on_created is not None:
            self.on_created(deployment_id)
        return rollout.execute()
