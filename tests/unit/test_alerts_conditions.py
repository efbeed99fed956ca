"""Conditions: what each event raises or resolves, with its severity (alerts/conditions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from safeship.alerts.conditions import RESOLVED_BY_SUCCESS, assess
from safeship.events.model import Event

PRODUCTION = ["production", "prod"]
DEPLOYMENT = "00000000-0000-4000-8000-000000000001"


def event(name: str, environment: str = "production", **attributes: Any) -> Event:
    return Event(
        event=name,  # type: ignore[arg-type]
        environment=environment,
        version="v2",
        commit="abc1234",
        deployment_id=DEPLOYMENT if not name.startswith(("path.", "watch.")) else None,
        triggered_by="ci",
        attributes=attributes,
    )


@pytest.mark.parametrize(
    ("name", "environment", "attributes", "expected"),
    [
        ("deployment.started", "production", {}, [("deployment.started", "info", "firing")]),
        ("deployment.succeeded", "staging", {}, [("deployment.succeeded", "info", "firing")]),
        ("deployment.failed", "production", {"status": "failed", "reason": "health"},
         [("deployment.failed", "critical", "firing")]),
        ("deployment.failed", "staging", {"status": "rolled_back", "reason": "errors"},
         [("deployment.failed", "error", "firing")]),
        ("rollback.triggered", "prod", {"reason": "r", "rule": "health"},
         [("rollback.triggered", "critical", "firing")]),
        ("rollback.triggered", "production", {"reason": "12% > 5%", "rule": "error_rate"},
         [("rollback.triggered", "critical", "firing"), ("error_rate.high", "error", "firing")]),
        ("rollback.triggered", "staging", {"reason": "3x", "rule": "latency"},
         [("rollback.triggered", "error", "firing"), ("latency.high", "warning", "firing")]),
        ("path.failover", "staging", {"from": "ci", "to": "local", "reason": "down"},
         [("path.failover", "warning", "firing")]),
        ("path.failover", "staging", {"from": "local", "to": None, "reason": "down"},
         [("path.failover", "error", "firing")]),
        ("path.completed", "production", {"ok": False, "path": "ci", "deployment_id": None},
         [("deployment.failed", "critical", "firing")]),
        ("path.completed", "production", {"ok": False, "deployment_id": DEPLOYMENT}, []),
        ("path.completed", "production", {"ok": True, "deployment_id": None}, []),
        ("watch.degraded", "production", {"condition": "latency.high"},
         [("latency.high", "critical", "firing")]),
        ("watch.degraded", "staging", {"condition": "health.degraded", "severity": "warning"},
         [("health.degraded", "warning", "firing")]),
        ("watch.recovered", "staging", {"condition": "error_rate.high"},
         [("error_rate.high", "error", "resolved")]),
        ("watch.degraded", "staging", {"condition": "no.such"}, []),
        ("stage.passed", "production", {}, []),
        ("traffic.shifted", "production", {}, []),
    ],
)  # fmt: skip
def test_each_event_raises_its_conditions(
    name: str, environment: str, attributes: dict[str, Any], expected: list[tuple[str, ...]]
) -> None:
    found = assess(event(name, environment, **attributes), PRODUCTION)
    assert [(a.condition, a.severity, a.state) for a in found.alerts] == expected
    assert all(a.environment == environment and a.id == "" for a in found.alerts)


def test_a_rollback_fills_its_reason_rule_and_figures() -> None:
    found = assess(
        event("rollback.triggered", reason="error rate 12.0% > 5.0%", rule="error_rate",
              figures={"error_rate": 0.12, "requests": 400, "nested": {"x": 1}}),
        PRODUCTION,
    )  # fmt: skip
    rollback = found.alerts[0]
    assert rollback.rollback_reason == "error rate 12.0% > 5.0%"
    assert rollback.rollback_rule == "error_rate"
    assert rollback.details == {"error_rate": "0.12", "requests": "400"}
    assert rollback.summary == "production: v2: rolling back: error rate 12.0% > 5.0%"
    assert (rollback.version, rollback.commit, rollback.triggered_by) == ("v2", "abc1234", "ci")
    assert rollback.deployment_id == DEPLOYMENT


def test_a_success_resolves_the_deploy_conditions_of_its_environment() -> None:
    found = assess(event("deployment.succeeded", health_score=0.98), PRODUCTION)
    assert found.resolves == RESOLVED_BY_SUCCESS
    assert {"deployment.failed", "rollback.triggered", "latency.high"} <= found.resolves
    assert found.alerts[0].health_score == 0.98
    assert not assess(event("deployment.started"), PRODUCTION).resolves


def test_production_is_a_setting() -> None:
    found = assess(event("deployment.failed", "live", status="failed"), ["live"])
    assert found.alerts[0].severity == "critical"


def test_texts_are_one_bounded_line() -> None:
    found = assess(
        event("deployment.failed", status="failed",
              reason="token=hunter2hunter2hunter2\nsecond line " + "x" * 600),
        PRODUCTION,
    )  # fmt: skip
    summary = found.alerts[0].summary
    assert "\n" not in summary and len(summary) <= 300
