"""Conditions: what each event raises or resolves.

    event                          condition              severity (production / elsewhere)
    deployment.started             deployment.started     info
    deployment.succeeded           deployment.succeeded   info; resolves RESOLVED_BY_SUCCESS
    deployment.failed              deployment.failed      critical / error
    rollback.triggered             rollback.triggered     critical / error
      rule "error_rate"            + error_rate.high      error / warning
      rule "latency"               + latency.high         error / warning
    path.failover                  path.failover          warning; error when no path is left
    path.completed, ok false,      deployment.failed      critical / error
      no deployment_id (a remote path's run: it has no deployment.failed of its own here)
    watch.degraded                 its ``condition``      critical / error (or its ``severity``)
    watch.recovered                its ``condition``      resolved
    env.drifted                    env.drift              error / warning (variable names only)
    env.drift_cleared              env.drift              resolved
    deployment.released            deployment.released    info (news: the tag, the artifacts)
    drill.failed                   drill.failed           critical / error (a leg's reason)
    drill.succeeded                drill.failed           resolved
    outage.paused                  outage.paused          critical / error (why, since when)
    outage.resumed                 outage.paused          resolved
    gate.overridden                gate.overridden        warning (who, why, which gate)
    secret.rotation_started        secret.rotation_started   info (news: the secret, where, who)
    secret.rotation_waiting        secret.rotation_waiting   warning (a person must act: the
                                                              checklist)
    secret.rotation_deployed       secret.rotation_deployed  info (the grace period's end)
    secret.rotated                 secret.rotated         info (news: who, where, fingerprints);
                                                          resolves secret.rotation_due of the
                                                          secret in each of its environments
    secret.rotation_failed         secret.rotation_failed critical / error (the step, the reason)
    secret.rotation_due            secret.rotation_due    error when overdue or never rotated,
                                                          else warning; one state per secret
    secret.rotation_due_cleared    secret.rotation_due    resolved (that secret's only)

The secret conditions carry the secret's name, kind, category, the rotation's id and the
versions' fingerprints (keyed hash prefixes) as details, never a value; a route can send them
all to the security team with ``conditions = ["secret.*"]`` (docs/secrets.md). A
``secret.rotation_due`` alert's ``subject`` is the secret: two secrets due in one environment are
two alerts, and one rotated resolves its own.

A rollback whose rule is the error rate or the latency also fires that condition: the
architecture lists "error rate over 5%" and "latency over 2x baseline" as conditions of their
own, and a route may want them (a team paging on the error rate, not on every rollback).

A successful deploy resolves what is firing for its environment: the failed deploy, the
rollback, a failover, and the health, error-rate and latency conditions (the new release just
passed its health checks and the canary analysis; if `safeship watch` still sees a problem it
raises it again on its next check).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

from safeship.events.model import Event
from safeship.notify.base import Alert, Condition, Severity
from safeship.redaction import redact

# Conditions that are states of an environment: they fire, are remembered (alert_states) and
# later resolve. The others (deployment.started/succeeded, test) are news: sent, not kept.
STATEFUL: Final[frozenset[Condition]] = frozenset(
    {
        "deployment.failed",
        "rollback.triggered",
        "health.degraded",
        "error_rate.high",
        "latency.high",
        "path.failover",
        "env.drift",
        "secret.rotation_due",
        "drill.failed",
        "outage.paused",
    }
)
RESOLVED_BY_SUCCESS: Final[frozenset[Condition]] = frozenset(
    {
        "deployment.failed",
        "rollback.triggered",
        "path.failover",
        "health.degraded",
        "error_rate.high",
        "latency.high",
    }
)
WATCHED: Final[frozenset[str]] = frozenset({"health.degraded", "error_rate.high", "latency.high"})
_RULE_CONDITIONS: Final[dict[str, Condition]] = {
    "error_rate": "error_rate.high",
    "latency": "latency.high",
}
_MAX_SUMMARY = 300
# The rotation events whose alert is news of the same name (secret.rotation_due is a state).
_ROTATION_NEWS: Final[dict[str, Condition]] = {
    "secret.rotation_started": "secret.rotation_started",
    "secret.rotation_waiting": "secret.rotation_waiting",
    "secret.rotation_deployed": "secret.rotation_deployed",
    "secret.rotated": "secret.rotated",
    "secret.rotation_failed": "secret.rotation_failed",
}
# Due states that raise secret.rotation_due, and how severe (schedule.DueState).
DUE_SEVERITY: Final[dict[str, Severity]] = {
    "due": "warning",
    "overdue": "error",
    "never_rotated": "error",
}


@dataclass(frozen=True)
class Assessment:
    """What one event means for alerting: alerts to send (no outbox id yet), and the
    conditions of ``environment`` it resolves (the sink reads which of them are firing)."""

    environment: str
    alerts: tuple[Alert, ...] = ()
    resolves: frozenset[Condition] = frozenset()


def assess(event: Event, production: Collection[str]) -> Assessment:
    """The alerts ``event`` raises (firing) or resolves; nothing for an event that is none."""
    prod = event.environment in production
    a = event.attributes
    name = event.event
    env = event.environment
    if name == "deployment.started":
        return Assessment(env, (_alert(event, "deployment.started", "info", "deploying"),))
    if name == "deployment.succeeded":
        score = _float(a.get("health_score"))
        started = _alert(event, "deployment.succeeded", "info", "deployed", health_score=score)
        return Assessment(env, (started,), RESOLVED_BY_SUCCESS)
    if name == "deployment.failed":
        status = str(a.get("status") or "failed")
        reason = _text(a.get("reason"))
        summary = f"{status.replace('_', ' ')}: {reason}" if reason else status
        alert = _alert(
            event, "deployment.failed", _serious(prod), summary, status=status,
            rollback_reason=reason if status == "rolled_back" else None,
        )  # fmt: skip
        return Assessment(env, (alert,))
    if name == "rollback.triggered":
        return Assessment(env, _rollback(event, prod))
    if name == "path.failover":
        left = a.get("to")
        severity: Severity = "warning" if left else "error"
        where = f"failed over to {left}" if left else "failed, and no path is left"
        summary = f"deploy path {a.get('from')} {where}: {_text(a.get('reason')) or 'no reason'}"
        alert = _alert(event, "path.failover", severity, summary, path=_text(a.get("from")))
        return Assessment(env, (alert,))
    if name == "path.completed" and a.get("ok") is False and not a.get("deployment_id"):
        detail = _text(a.get("detail")) or _text(a.get("conclusion")) or "failed"
        summary = f"failed through {a.get('path')} (run {a.get('run_id')}): {detail}"
        url = _text(a.get("url"))
        details = {"url": url} if url else {}
        alert = _alert(
            event, "deployment.failed", _serious(prod), summary, status="failed",
            path=_text(a.get("path")), details=details,
        )  # fmt: skip
        return Assessment(env, (alert,))
    if name in ("watch.degraded", "watch.recovered"):
        condition = a.get("condition")
        if condition not in WATCHED:
            return Assessment(env)
        given = a.get("severity")
        severity = given if given in ("info", "warning", "error", "critical") else _serious(prod)
        state = "firing" if name == "watch.degraded" else "resolved"
        change = "began" if state == "firing" else "cleared"
        summary = _text(a.get("reason")) or f"{condition} {change}"
        alert = _alert(
            event, condition, severity, summary, state=state, details=_figures(a),
        )  # fmt: skip
        return Assessment(env, (alert,))
    if name == "deployment.released":
        return Assessment(env, (_released(event),))
    if name in ("env.drifted", "env.drift_cleared"):
        state = "firing" if name == "env.drifted" else "resolved"
        severity = ("error" if prod else "warning") if state == "firing" else "info"
        summary = _text(a.get("summary")) or f"env drift {'found' if state == 'firing' else 'gone'}"
        alert = _alert(
            event, "env.drift", severity, summary, state=state,
            details=_figures({k: v for k, v in a.items() if k != "summary"}),
        )  # fmt: skip
        return Assessment(env, (alert,))
    if name in ("drill.failed", "drill.succeeded", "outage.paused", "outage.resumed"):
        return Assessment(env, (_drill_or_outage(event, prod),))
    if name in _ROTATION_NEWS:
        return Assessment(env, _rotation(event, prod))
    if name in ("secret.rotation_due", "secret.rotation_due_cleared"):
        return Assessment(env, (_rotation_due(event),))
    if name == "gate.overridden":
        gate, by = _text(a.get("gate")) or "a gate", _text(a.get("by")) or "someone"
        summary = f"{gate} gate overridden by {by}: {_text(a.get('reason')) or 'no reason'}"
        details = {k: v for k, v in (("gate", gate), ("by", by)) if v}
        alert = _alert(event, "gate.overridden", "warning", summary, details=details)
        return Assessment(env, (alert,))
    return Assessment(env)


def _drill_or_outage(event: Event, prod: bool) -> Alert:
    """A rollback drill that failed (or passed again), an environment paused by its
    availability probe (or resumed): the summary is the event's own."""
    name = event.event
    condition: Condition = "drill.failed" if name.startswith("drill.") else "outage.paused"
    firing = name in ("drill.failed", "outage.paused")
    severity: Severity = _serious(prod) if firing else "info"
    summary = _text(event.attributes.get("summary")) or name
    details = _figures({k: v for k, v in event.attributes.items() if k != "summary"})
    return _alert(
        event, condition, severity, summary, state="firing" if firing else "resolved",
        details=details,
    )  # fmt: skip


def _rotation(event: Event, prod: bool) -> tuple[Alert, ...]:
    """A rotation's news; a finished rotation also resolves its secret's due state in each of
    its environments (a no-op where it was not firing)."""
    a = event.attributes
    name = event.event
    secret = _text(a.get("secret")) or "a secret"
    where = _environments(event)
    by = _text(a.get("by")) or event.triggered_by or "someone"
    details = _rotation_details(event)
    severity: Severity = "info"
    if name == "secret.rotation_started":
        summary = f"rotation of {secret} started in {', '.join(where)} by {by}"
    elif name == "secret.rotation_waiting":
        severity = "warning"
        steps = _checklist(a.get("checklist"))
        todo = f": {'; '.join(steps)}" if steps else ""
        summary = (
            f"rotation of {secret} waits for a person{todo}; then `safeship secrets set "
            f"{secret} --environment {event.environment}`"
        )
        if steps:
            details["checklist"] = _one_line("; ".join(steps))
    elif name == "secret.rotation_deployed":
        until = _text(a.get("grace_until"))
        after = f"; the previous value stays valid until {until}" if until else ""
        summary = f"{secret} rotated in {', '.join(where)}{after}"
    elif name == "secret.rotated":
        summary = f"{secret} rotated in {', '.join(where)} by {by}; the previous value revoked"
    else:  # secret.rotation_failed
        severity = _serious(prod)
        step = _text(a.get("step")) or "a step"
        reason = _text(a.get("reason")) or "no reason given"
        summary = f"rotation of {secret} failed at {step}: {reason}; the current value stays"
    news = _alert(event, _ROTATION_NEWS[name], severity, summary, details=details)
    news = dataclasses.replace(news, subject=_text(a.get("secret")))
    alerts = [news]
    if name == "secret.rotated" and _text(a.get("secret")):
        for environment in where:
            alerts.append(
                dataclasses.replace(
                    news,
                    condition="secret.rotation_due",
                    state="resolved",
                    environment=environment,
                    summary=_one_line(f"{environment}: {secret} rotated, no longer due"),
                    details={},
                )
            )
    return tuple(alerts)


def _rotation_due(event: Event) -> Alert:
    """A secret due, overdue or never rotated (the reminder job), or no longer: one state per
    secret (the alert's subject)."""
    a = event.attributes
    secret = _text(a.get("secret")) or "a secret"
    details = _rotation_details(event)
    if event.event == "secret.rotation_due_cleared":
        alert = _alert(
            event, "secret.rotation_due", "info", f"{secret} is no longer due for rotation",
            state="resolved", details=details,
        )  # fmt: skip
        return dataclasses.replace(alert, subject=_text(a.get("secret")))
    state = _text(a.get("state")) or "due"
    next_due = _text(a.get("next_due"))
    age = _float(a.get("age_days"))
    aged = f" (last rotated {age:.0f} days ago)" if age is not None else ""
    if state == "never_rotated":
        summary = f"{secret} has never been rotated"
    elif state == "overdue":
        summary = f"{secret} is overdue for rotation since {next_due or 'its due date'}{aged}"
    else:
        summary = f"{secret} is due for rotation by {next_due or 'its due date'}{aged}"
    severity = DUE_SEVERITY.get(state, "warning")
    alert = _alert(event, "secret.rotation_due", severity, summary, details=details)
    return dataclasses.replace(alert, subject=_text(a.get("secret")))


def _environments(event: Event) -> list[str]:
    """The rotation's environments (its attribute), else the event's own."""
    named = event.attributes.get("environments")
    if isinstance(named, list | tuple) and named:
        return [str(e) for e in named]
    return [event.environment]


def _rotation_details(event: Event) -> dict[str, str]:
    """The scalar attributes (secret, kind, category, rotation, by, fingerprints...), the
    environments as one text, and a ``fingerprints`` mapping flattened: never a value (the
    events carry none), and redacted like every text of an alert."""
    a = event.attributes
    skip = {"summary", "checklist", "environments", "fingerprints", "reason"}
    details = _figures({k: v for k, v in a.items() if k not in skip})
    where = a.get("environments")
    if isinstance(where, list | tuple) and where:
        details["environments"] = _one_line(", ".join(str(e) for e in where))
    prints = a.get("fingerprints")
    if isinstance(prints, dict):
        for key, value in prints.items():
            if isinstance(value, str | int):
                details[f"fingerprint {key}"] = _one_line(str(value))
    return details


def _checklist(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [line for line in (_text(item) for item in value) if line]
    text = _text(value)
    return [text] if text else []


def _rollback(event: Event, prod: bool) -> tuple[Alert, ...]:
    a = event.attributes
    reason = _text(a.get("reason")) or "no reason given"
    rule = _text(a.get("rule"))
    details = _figures(a.get("figures") if isinstance(a.get("figures"), dict) else {})
    rollback = _alert(
        event, "rollback.triggered", "critical" if prod else "error", f"rolling back: {reason}",
        status="rolled_back", rollback_reason=reason, rollback_rule=rule, details=details,
    )  # fmt: skip
    alerts = [rollback]
    extra = _RULE_CONDITIONS.get(rule or "")
    if extra is not None:
        also = _alert(
            event, extra, "error" if prod else "warning", reason,
            rollback_reason=reason, rollback_rule=rule, details=details,
        )  # fmt: skip
        alerts.append(also)
    return tuple(alerts)


def _released(event: Event) -> Alert:
    """The stakeholders' news after a deploy: its own condition, so a route can send it (and
    only it) to their channel; the tag, the artifacts' count and the report's address as
    details."""
    a = event.attributes
    tag = _text(a.get("tag"))
    artifacts = a.get("artifacts")
    details = {"tag": tag} if tag else {}
    if isinstance(artifacts, list) and artifacts:
        details["artifacts"] = _one_line(", ".join(str(name) for name in artifacts))
    report = _text(a.get("report"))
    if report:
        details["report"] = report
    summary = f"released as {tag}" if tag else "released"
    return _alert(event, "deployment.released", "info", summary, details=details)


def _serious(prod: bool) -> Severity:
    return "critical" if prod else "error"


def _alert(
    event: Event,
    condition: Condition,
    severity: Severity,
    summary: str,
    *,
    state: str = "firing",
    status: str | None = None,
    health_score: float | None = None,
    rollback_reason: str | None = None,
    rollback_rule: str | None = None,
    path: str | None = None,
    details: dict[str, str] | None = None,
) -> Alert:
    version = f"{event.version}: " if event.version else ""
    return Alert(
        id="",  # the outbox gives each row its id
        condition=condition,
        severity=severity,
        state="resolved" if state == "resolved" else "firing",
        environment=event.environment,
        summary=_one_line(f"{event.environment}: {version}{summary}"),
        occurred_at=event.timestamp,
        deployment_id=event.deployment_id or _text(event.attributes.get("deployment_id")),
        version=event.version,
        commit=event.commit,
        triggered_by=event.triggered_by,
        status=status,
        duration_s=_float(event.attributes.get("duration_s")),
        health_score=health_score,
        rollback_reason=_one_line(rollback_reason) if rollback_reason else None,
        rollback_rule=rollback_rule,
        path=path or _text(event.attributes.get("path")),
        details=details or {},
    )


def _figures(values: Any) -> dict[str, str]:
    """Scalar figures as texts (the channels show them as they are)."""
    if not isinstance(values, dict):
        return {}
    return {
        str(k): _one_line(str(v))
        for k, v in values.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool) and k != "condition"
    }


def _text(value: Any) -> str | None:
    return _one_line(str(value)) if value not in (None, "") else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _one_line(text: str) -> str:
    line = " ".join(redact(text).split())
    return line if len(line) <= _MAX_SUMMARY else line[: _MAX_SUMMARY - 1] + "…"
