"""The chain of environments: ``requires = ["staging"]`` lets a version into this environment
only after it succeeded in each required one (its verification passed, it was promoted and is
still counted a success: a later rollback there takes it back), with the same commit when one
is given, no longer than ``max_age`` seconds ago."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from safeship.gates.base import GateContext, GateVerdict, failed, passed

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.registry import DeploymentRecord

# How many of a version's successes in a required environment are looked at (the newest).
_CANDIDATES = 20


@dataclass(frozen=True)
class ChainGate:
    requires: tuple[str, ...]
    max_age: float
    name: str = "chain"

    def check(self, context: GateContext) -> GateVerdict:
        from safeship.registry.deployments import HistoryFilter

        now = datetime.now(UTC)
        oldest = now - timedelta(seconds=self.max_age)
        figures: dict[str, str] = {}
        missing: list[str] = []
        for environment in self.requires:
            records = context.registry.history(
                environment,
                limit=_CANDIDATES,
                filters=HistoryFilter(statuses=("succeeded",), version=context.version),
            )
            found = _proof(records, context.commit, oldest)
            if found is None:
                missing.append(_why_missing(environment, records, context, oldest))
            else:
                figures[environment] = found.id
        if not missing:
            return passed(
                "; ".join(f"succeeded in {env} ({figures[env][:8]})" for env in self.requires),
                deployments=figures,
            )
        reason = "; ".join(missing)
        if context.override is not None:
            return GateVerdict("overridden", reason, {"deployments": figures})
        return failed(reason, deployments=figures)


def _proof(
    records: list[DeploymentRecord], commit: str | None, oldest: datetime
) -> DeploymentRecord | None:
    for record in records:
        if commit is not None and record.commit_sha != commit:
            continue
        if record.completed_at is not None and record.completed_at >= oldest:
            return record
    return None


def _why_missing(
    environment: str, records: list[DeploymentRecord], context: GateContext, oldest: datetime
) -> str:
    version = context.version
    if not records:
        return f"{version} has not succeeded in {environment}"
    if context.commit is not None and all(r.commit_sha != context.commit for r in records):
        return f"{version} succeeded in {environment}, but not at commit {context.commit[:12]}"
    age = f"{context.settings.max_age / 3600:g} h"
    return f"{version} succeeded in {environment} before {oldest:%Y-%m-%d %H:%M} UTC ({age} ago)"


def gate(settings: EnvironmentSettings) -> ChainGate | None:
    if not settings.requires:
        return None
    return ChainGate(tuple(settings.requires), settings.max_age)
