"""How an alert reads to a person, the same on every channel that shows one (Slack, email).

The architecture's notification template (its appendix D): a status with its emoji as the
title, then environment, version, the short commit and who triggered it; then the duration,
the health score as a percentage, the rollback reason, and a link to the dashboard. A channel
lays these out in its own format; the words and figures are chosen here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeship.notify.base import Alert, Condition, Severity

# The architecture's emojis for a deployment's status (appendix D).
STARTED, SUCCEEDED, FAILED, ROLLED_BACK = "🚀", "✅", "❌", "🔄"
SEVERITY_EMOJI: dict[Severity, str] = {
    "critical": "🚨",
    "error": "❌",
    "warning": "⚠️",
    "info": "\N{INFORMATION SOURCE}\ufe0f",  # i in a blue box
}
RESOLVED = "✅"

TITLES: dict[Condition, str] = {
    "deployment.started": "Deployment started",
    "deployment.succeeded": "Deployment succeeded",
    "deployment.failed": "Deployment failed",
    "rollback.triggered": "Rollback triggered",
    "health.degraded": "Health degraded",
    "error_rate.high": "Error rate high",
    "latency.high": "Latency high",
    "path.failover": "Deploy path failed over",
    "env.drift": "Environment drift",
    "secret.rotation_due": "Secret rotation due",
    "secret.rotation_started": "Secret rotation started",
    "secret.rotation_waiting": "Secret rotation waiting for a person",
    "secret.rotation_deployed": "Secret rotation deployed",
    "secret.rotated": "Secret rotated",
    "secret.rotation_failed": "Secret rotation failed",
    "deployment.released": "Deployment released",
    "gate.overridden": "Gate overridden",
    "test": "Test notification",
}

SHORT_COMMIT = 7


@dataclass(frozen=True)
class Heading:
    emoji: str
    title: str  # "Deployment rolled back", "Error rate high resolved"

    def __str__(self) -> str:
        return f"{self.emoji} {self.title}"


def heading(alert: Alert) -> Heading:
    """The status line of ``alert``: the architecture's emoji for a deployment's status, the
    severity's for a condition of an environment, a check mark when it resolved."""
    title = TITLES.get(alert.condition, alert.condition)
    if alert.state == "resolved":
        return Heading(RESOLVED, f"{title} resolved")
    if alert.condition == "deployment.started":
        return Heading(STARTED, title)
    if alert.condition == "deployment.succeeded":
        return Heading(SUCCEEDED, title)
    if alert.condition == "deployment.failed":
        if alert.status == "rolled_back":
            return Heading(ROLLED_BACK, "Deployment rolled back")
        return Heading(FAILED, title)
    if alert.condition == "rollback.triggered":
        return Heading(ROLLED_BACK, title)
    return Heading(SEVERITY_EMOJI[alert.severity], title)


def short_commit(commit: str) -> str:
    return commit[:SHORT_COMMIT]


def percent(score: float) -> str:
    """A health score (0.00-1.00) as the template shows it: ``87.5%``."""
    return f"{score * 100:.1f}%"


def seconds(duration_s: float) -> str:
    if duration_s < 120:
        return f"{duration_s:.1f} s"
    minutes, rest = divmod(round(duration_s), 60)
    return f"{minutes} min {rest} s"


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The alert's figures, label and value, in the template's order; unknown ones left out.
    (The rollback reason and the dashboard link are not among them: channels give them room
    of their own.)"""
    found: list[tuple[str, str | None]] = [
        ("Environment", alert.environment),
        ("Version", alert.version),
        ("Commit", short_commit(alert.commit) if alert.commit else None),
        ("Triggered by", alert.triggered_by),
        ("Duration", seconds(alert.duration_s) if alert.duration_s is not None else None),
        ("Health score", percent(alert.health_score) if alert.health_score is not None else None),
        ("Severity", alert.severity),
        ("Deploy path", alert.path),
    ]
    return [(label, value) for label, value in found if value]


def rollback_text(alert: Alert) -> str | None:
    """ "error rate 12.0% > 5.0% (rule error_rate)", or None without a reason."""
    if not alert.rollback_reason:
        return None
    rule = f" (rule {alert.rollback_rule})" if alert.rollback_rule else ""
    return f"{alert.rollback_reason}{rule}"
