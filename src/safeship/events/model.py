"""One event model for everything that happens to a deployment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventName = Literal[
    "deployment.started",
    "stage.started",
    "stage.passed",
    "stage.failed",
    "check.completed",
    "traffic.shifted",
    "rollback.triggered",
    "rollback.completed",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.aborted",
    # The gates before a release starts (safeship.gates): a deployment waits for approval, is
    # approved or rejected (attributes: who, why); a failed gate let through by an approver's
    # --override-gates (attributes: gate, reason, by).
    "approval.requested",
    "approval.granted",
    "approval.rejected",
    "gate.overridden",
    # After a deploy that succeeded (safeship.postdeploy): the stakeholders' news; attributes:
    # environment, tag, artifacts (file names), report (where the report was archived).
    "deployment.released",
    # Environment-level (deployment_id None): a deploy path left for the next, the path that ran.
    "path.failover",
    "path.completed",
    # Between deploys (`safeship watch`): a serving environment's condition began or cleared;
    # attributes: condition ("health.degraded", "error_rate.high", "latency.high") and figures.
    "watch.degraded",
    "watch.recovered",
    # The drift check (`safeship serve`'s drift job): an environment's variables differ from the
    # schema or the last snapshot, or no longer do; attributes: the variables' names, never values.
    "env.drifted",
    "env.drift_cleared",
    # Rollback drills (`safeship drill`): both legs passed, or one failed; attributes: the
    # versions, each leg's seconds, ok, reason and deployment id.
    "drill.succeeded",
    "drill.failed",
    # Outage mode: the availability probe failed `failures` times in a row and deploys to the
    # environment are paused (attributes: reason, since), or it answers again and they resume.
    "outage.paused",
    "outage.resumed",
    # Secret rotation (docs/secrets.md), environment-level; attributes: secret, category, kind,
    # rotation (its id), environments, by, and the versions' fingerprints (never a value).
    # started: the rotation began; waiting: a manual rotation waits for `safeship secrets set`
    # (attributes: checklist); deployed: every environment runs the new value, the grace
    # period runs until grace_until; rotated: the finish step revoked the previous value;
    # failed: a step failed (attributes: step, reason) and the current value stays in place;
    # due: the reminder job found the secret due, overdue or never rotated (attributes: state,
    # next_due, age_days); due_cleared: it no longer is.
    "secret.rotation_started",
    "secret.rotation_waiting",
    "secret.rotation_deployed",
    "secret.rotated",
    "secret.rotation_failed",
    "secret.rotation_due",
    "secret.rotation_due_cleared",
    # A fleet (the ssh target, docs/fleet.md), within a deployment. batch: the rollout started
    # the release on a batch of hosts (attributes: hosts, batch, batches) and it passed its
    # verification (batch.passed) or not (batch.failed, with reason). host.unavailable: a host
    # stopped answering mid-rollout and was taken out of traffic (attributes: host, reason,
    # unavailable, max_unavailable); beyond max_unavailable the deployment rolls back.
    "batch.started",
    "batch.passed",
    "batch.failed",
    "host.unavailable",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """An event as every sink sees it.

    Attribute names follow OpenTelemetry semantic conventions where one exists
    (``deployment.environment.name``, ``deployment.id``, ``deployment.status``,
    ``vcs.ref.head.revision``); ``otel_attributes`` adds them to ``attributes``.
    """

    # Built when the first event is made (a deploy), not at import: the config imports this
    # module for EventName, and every command loads the config.
    model_config = ConfigDict(frozen=True, defer_build=True)

    timestamp: datetime = Field(default_factory=utc_now)
    event: EventName
    deployment_id: str | None = None
    environment: str
    version: str | None = None
    commit: str | None = None
    triggered_by: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    def otel_attributes(self) -> dict[str, Any]:
        base: dict[str, Any] = {"deployment.environment.name": self.environment}
        if self.deployment_id:
            base["deployment.id"] = self.deployment_id
        if self.commit:
            base["vcs.ref.head.revision"] = self.commit
        return base | self.attributes
