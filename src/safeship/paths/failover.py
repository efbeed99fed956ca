"""Try deploy paths in order; skip those cooling down after a failure (circuit breaker).

A path is left for the next one when it is unavailable, cannot be triggered, or its run ended
before the deploy started (``RunOutcome.started`` False, e.g. GitHub refusing the job for
billing). Each such verdict trips the breaker for ``cooldown`` seconds (not a ``settled``
unavailability: the configuration, not an outage) and is reported to ``on_failover`` at
once; the next path is tried without any wait. A run that started and failed is returned as
it is: the deploy may have happened, so verifying and rolling back is the pipeline's, not
another path's.

The breaker's state is a small JSON file (``{path: {"until": epoch, "reason": str}}``) written
atomically; an unreadable file counts as empty (the worst case is one retry too early).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeship._files import write_private
from safeship.paths.base import DeployPath, PathError, RunOutcome


@dataclass(frozen=True)
class Failover:
    """One path left for the next: the data of a ``path.failover`` event."""

    path: str
    reason: str
    next_path: str | None = None
    at: float = 0.0


@dataclass
class FailoverResult:
    path: str
    run_id: str
    outcome: RunOutcome
    failovers: list[Failover] = field(default_factory=list)


class AllPathsFailed(PathError):
    def __init__(self, failovers: list[Failover]) -> None:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in failovers) or "no paths configured"
        super().__init__(f"no deploy path could run: {reasons}")
        self.failovers = failovers


class CircuitBreaker:
    def __init__(
        self, state_file: Path, cooldown: float, now: Callable[[], float] = time.time
    ) -> None:
        self.state_file = state_file
        self.cooldown = cooldown
        self._now = now

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        write_private(self.state_file, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def open_reason(self, path: str) -> str | None:
        """Why ``path`` is skipped now (it failed and its cool-down has not ended), or None."""
        entry = self._read().get(path)
        if not isinstance(entry, dict):
            return None
        remaining = float(entry.get("until", 0)) - self._now()
        if remaining <= 0:
            return None
        return f"cooling down for {remaining:.0f} s after: {entry.get('reason', 'a failure')}"

    def trip(self, path: str, reason: str) -> None:
        if self.cooldown <= 0:
            return
        data = self._read()
        data[path] = {"until": self._now() + self.cooldown, "reason": reason, "at": self._now()}
        self._write(data)

    def reset(self, path: str) -> None:
        data = self._read()
        if data.pop(path, None) is not None:
            self._write(data)


def deploy_with_failover(
    paths: Sequence[DeployPath],
    version: str,
    commit: str | None,
    environment: str,
    *,
    breaker: CircuitBreaker | None = None,
    on_failover: Callable[[Failover], None] | None = None,
) -> FailoverResult:
    """Run the deploy through the first path that can; AllPathsFailed if none could."""
    failovers: list[Failover] = []
    names = [p.name for p in paths]

    def leave(index: int, reason: str, trip: bool) -> None:
        name = names[index]
        if trip and breaker is not None:
            breaker.trip(name, reason)
        event = Failover(
            name, reason, names[index + 1] if index + 1 < len(names) else None, time.time()
        )
        failovers.append(event)
        if on_failover is not None:
            on_failover(event)

    for index, path in enumerate(paths):
        skipped = breaker.open_reason(path.name) if breaker is not None else None
        if skipped:
            leave(index, skipped, trip=False)
            continue
        try:
            availability = path.is_available()
        except Exception as exc:  # an adapter's bug must not stop the failover
            availability_reason = f"availability check failed: {type(exc).__name__}: {exc}"
            leave(index, availability_reason, trip=True)
            continue
        if not availability.ok:
            leave(index, availability.reason or "unavailable", trip=not availability.settled)
            continue
        try:
            run_id = path.trigger(version, commit, environment)
        except PathError as exc:
            leave(index, str(exc), trip=True)
            continue
        outcome = path.follow(run_id)
        if not outcome.ok and not outcome.started:
            leave(index, outcome.detail or f"run {run_id} {outcome.conclusion}", trip=True)
            continue
        if breaker is not None and outcome.ok:
            breaker.reset(path.name)
        return FailoverResult(path.name, run_id, outcome, failovers)
    raise AllPathsFailed(failovers)
