"""Gates a dead safeship left unfinished: ``safeship recover`` (and the next deploy of the
environment) closes their rows as ``interrupted``, so no gate reads as having passed, and the
real migration's row says the schema may be half-changed."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.registry import Registry
    from safeship.registry.gate_rows import GateResult

INTERRUPTED = "interrupted"
_STOPPED = "safeship stopped during this gate; recovered"


def close_unfinished(registry: Registry, deployment_id: str) -> list[GateResult]:
    """Mark the deployment's unfinished gate rows interrupted; the rows it closed (as now)."""
    from safeship.gates.migrate import INTERRUPTED_REASON

    closed = []
    for result in registry.gate_results(deployment_id):
        if result.outcome is None:
            reason = INTERRUPTED_REASON if result.gate == "migrate" else _STOPPED
            registry.finish_gate(result.id, INTERRUPTED, reason, result.figures)
            closed.append(dataclasses.replace(result, outcome=INTERRUPTED, reason=reason))
    return closed
