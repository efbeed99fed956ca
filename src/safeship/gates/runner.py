"""Runs a deployment's gates in order: each recorded in the registry before it acts and
finished with its verdict, announced as a stage, the first failure stopping the deployment.

Which gates an environment has comes from its config: each gate's module has a
``gate(settings) -> Gate | None`` (None: not configured there), imported only when a deploy
runs (a gate may pull in heavy libraries).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safeship.gates.base import (
    BEFORE_RELEASE_ORDER,
    CHECK_ORDER,
    Gate,
    GateContext,
    GateVerdict,
)
from safeship.redaction import redact, redact_data

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings

# Each gate's module, by name (its ``gate(settings)`` builds it).
GATE_MODULES: dict[str, str] = {
    "outage": "safeship.gates.outage",
    "chain": "safeship.gates.chain",
    "backup": "safeship.gates.backup",
    "freeze": "safeship.gates.freeze",
    "capacity": "safeship.gates.capacity",
    "migration": "safeship.gates.migration",
    "rollback_plan": "safeship.gates.rollback_plan",
    "migrate": "safeship.gates.migrate",
    "approval": "safeship.gates.approval",
}


@dataclass(frozen=True)
class GateStop:
    """Why the gates stopped a deployment; ``aborted``: a person said no (a rejection, or no
    answer before the approval timeout), else the deployment failed."""

    gate: str
    reason: str
    aborted: bool = False


def configured_gates(settings: EnvironmentSettings, names: Sequence[str]) -> list[Gate]:
    gates = []
    for name in names:
        module_name = GATE_MODULES.get(name)
        if module_name is None:
            continue
        gate: Gate | None = importlib.import_module(module_name).gate(settings)
        if gate is not None:
            gates.append(gate)
    return gates


class GateRunner:
    """The gates of one environment: ``checks`` before the release (approval last), and
    ``before_release`` right before it starts (the real migration)."""

    def __init__(self, checks: Sequence[Gate], before_release: Sequence[Gate]) -> None:
        self.checks = list(checks)
        self.before_release = list(before_release)

    @classmethod
    def for_environment(cls, settings: EnvironmentSettings) -> GateRunner:
        return cls(
            configured_gates(settings, CHECK_ORDER),
            configured_gates(settings, BEFORE_RELEASE_ORDER),
        )

    def __bool__(self) -> bool:
        return bool(self.checks or self.before_release)

    def run_checks(self, context: GateContext) -> GateStop | None:
        return _run(self.checks, context)

    def run_before_release(self, context: GateContext) -> GateStop | None:
        return _run(self.before_release, context)


def _run(gates: Sequence[Gate], context: GateContext) -> GateStop | None:
    for gate in gates:
        stop = _run_one(gate, context)
        if stop is not None:
            return stop
    return None


def _run_one(gate: Gate, context: GateContext) -> GateStop | None:
    registry = context.registry
    row = registry.start_gate(context.deployment_id, gate.name)
    context.emit("stage.started", stage=gate.name)
    try:
        verdict = gate.check(context)
    except Exception as exc:  # a gate that breaks stops the deployment, with why
        text = str(exc).strip().splitlines()
        verdict = GateVerdict("failed", text[0] if text else type(exc).__name__)
    except BaseException:
        # Ctrl-C or SIGTERM mid-gate: the row says the gate did not finish (and, where the
        # gate says, what that may have left: a half-applied migration).
        why = getattr(gate, "interrupted_reason", "the deploy was interrupted during this gate")
        registry.finish_gate(row, "interrupted", why)
        raise
    reason = redact(verdict.reason)
    figures: dict[str, Any] = redact_data(dict(verdict.figures))
    registry.finish_gate(row, verdict.outcome, reason or None, figures)
    if verdict.outcome == "failed":
        context.emit("stage.failed", stage=gate.name, reason=reason)
        return GateStop(gate.name, f"{gate.name} gate: {reason}")
    if verdict.outcome == "aborted":
        context.emit("stage.failed", stage=gate.name, reason=reason)
        return GateStop(gate.name, f"{gate.name} gate: {reason}", aborted=True)
    context.emit("stage.passed", stage=gate.name, outcome=verdict.outcome, reason=reason)
    if verdict.outcome == "overridden":
        override = context.override
        context.emit(
            "gate.overridden",
            gate=gate.name,
            reason=override.reason if override else reason,
            by=override.by if override else None,
        )
    return None
