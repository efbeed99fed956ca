"""The gates' port: what a gate is told about the deployment it guards, and its verdict.

A gate is one check before a release starts (the chain of environments, a freeze window,
resource capacity, the database backup, the migration dry-run, the rollback plan, approval) or
one step right before it starts (the real migration). Each returns a :class:`GateVerdict`;
the runner (:mod:`safeship.gates.runner`) records it in the registry (``gate_results``) and
stops the deployment on the first that fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings, LoadedConfig
    from safeship.registry import Registry
    from safeship.targets.base import Target

# passed: go on; failed: the deployment fails with the reason; skipped: not applicable here
# (e.g. no database configured), recorded with why; overridden: it failed, and an approver's
# --override-gates let it pass (recorded and alerted); aborted: a person said no (an approval
# rejected, or not given in time): the deployment ends aborted, not failed.
Outcome = Literal["passed", "failed", "skipped", "overridden", "aborted"]

# The gates that run before a release starts, in this order; "approval" is last of them (the
# deployment waits in awaiting_approval, having shown what the others found). "migrate" runs
# after approval, in the deploying stage, right before the release starts.
CHECK_ORDER: tuple[str, ...] = (
    "outage",
    "chain",
    "freeze",
    "capacity",
    "backup",
    "migration",
    "rollback_plan",
    "approval",
)
BEFORE_RELEASE_ORDER: tuple[str, ...] = ("migrate",)


@dataclass(frozen=True)
class GateVerdict:
    outcome: Outcome
    reason: str = ""  # one line; never a secret value (the runner redacts it all the same)
    figures: Mapping[str, Any] = field(default_factory=dict)  # JSON-able measurements

    @property
    def stops(self) -> bool:
        return self.outcome in ("failed", "aborted")


def passed(reason: str = "", **figures: Any) -> GateVerdict:
    return GateVerdict("passed", reason, figures)


def failed(reason: str, **figures: Any) -> GateVerdict:
    return GateVerdict("failed", reason, figures)


def skipped(reason: str, **figures: Any) -> GateVerdict:
    return GateVerdict("skipped", reason, figures)


@dataclass(frozen=True)
class GateOverride:
    """`--override-gates --reason TEXT`: an approver lets failed chain/freeze gates pass."""

    reason: str
    by: str  # who asked (their approver role was checked by the core before the deploy)


@dataclass
class GateContext:
    """What a gate may read and do. One per deployment, shared by its gates in order: an
    earlier gate leaves facts for a later one in ``facts`` (the backup's artifact for the
    migration dry-run, the dry-run's findings for the rollback plan and approval)."""

    loaded: LoadedConfig
    environment: str
    settings: EnvironmentSettings
    version: str
    commit: str | None
    triggered_by: str
    deployment_id: str
    registry: Registry
    target: Target
    run_dir: Path
    stable_version: str | None  # the release serving now (None: first deploy)
    override: GateOverride | None = None
    # Moves the deployment to awaiting_approval (write-ahead) and emits approval.requested;
    # only the approval gate calls it, at most once.
    await_approval: Callable[[Mapping[str, Any]], None] = lambda attributes: None
    # Emits an event of this deployment (name, attributes), e.g. approval.granted.
    emit: Callable[..., None] = lambda name, **attributes: None
    # Reasons a gate found for a human to approve before going on (a risky migration, an
    # override of a freeze window); the approval gate waits for approval when any are given,
    # even where the environment does not require approval otherwise.
    needs_approval: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class Gate(Protocol):
    name: str

    def check(self, context: GateContext) -> GateVerdict:
        """The gate's verdict on the deployment. Raising is a failure too (its first line
        becomes the reason), so a gate never needs to catch what it cannot handle."""
        ...
