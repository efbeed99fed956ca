"""What a deployment tells its callers: live snapshots while it runs, its outcome, and why it
did not start or stopped."""

from __future__ import annotations

from dataclasses import dataclass, field

from safeship.analysis.judge import Judgement
from safeship.pipeline.states import Status
from safeship.routing.base import BackendStats


@dataclass(frozen=True)
class LiveSnapshot:
    """What a live view shows while a deployment runs."""

    deployment_id: str
    environment: str
    version: str
    status: Status
    step: int | None
    weights: dict[str, int]
    window: dict[str, BackendStats]  # per release, since the current step began
    elapsed: float
    judgement: Judgement | None = None  # the canary judge's latest, at a judged step
    paused: bool = False  # waiting at the step for `safeship promote` / `safeship abort`


@dataclass
class DeploymentOutcome:
    deployment_id: str
    version: str
    status: Status
    reason: str | None = None
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCEEDED


class DeployRefused(Exception):
    """The deployment was not started (nothing changed). The message is one line."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a deployment; ``outcome`` says how it was left."""

    def __init__(self, outcome: DeploymentOutcome) -> None:
        super().__init__(f"{outcome.version} {outcome.status}: {outcome.reason}")
        self.outcome = outcome
