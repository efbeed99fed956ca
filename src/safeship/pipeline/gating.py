"""The gates of a deployment run from here (the pipeline's side of :mod:`safeship.gates`):
their runner for the environment, and the context each gate is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from safeship.config import LoadedConfig
from safeship.gates.base import GateContext, GateOverride
from safeship.gates.runner import GateRunner
from safeship.pipeline.environment import Environment
from safeship.pipeline.rollout.endings import Releases
from safeship.pipeline.rollout.state import RunState
from safeship.pipeline.states import Status
from safeship.registry import Registry


def gate_runner(env: Environment) -> GateRunner | None:
    runner = GateRunner.for_environment(env.settings)
    return runner if runner else None


def context_factory(
    loaded: LoadedConfig,
    env: Environment,
    registry: Registry,
    override: GateOverride | None = None,
) -> Callable[[RunState, Releases], GateContext]:
    def make(state: RunState, releases: Releases) -> GateContext:
        def await_approval(attributes: Mapping[str, Any]) -> None:
            # The request (what the gates found) is recorded before the status says the
            # deployment waits: whoever lists what awaits approval sees it with its reasons.
            state.emit("approval.requested", **attributes)
            state.advance(Status.AWAITING_APPROVAL)
            state.progress()

        return GateContext(
            loaded=loaded,
            environment=env.name,
            settings=env.settings,
            version=state.version,
            commit=state.commit,
            triggered_by=state.triggered_by,
            deployment_id=state.deployment_id,
            registry=registry,
            target=env.target,
            run_dir=env.run_dir,
            stable_version=releases.stable.name if releases.stable else None,
            override=override,
            await_approval=await_approval,
            emit=state.emit,
        )

    return make
