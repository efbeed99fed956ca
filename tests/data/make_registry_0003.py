"""Writes ``registry_0003.db`` and ``registry_0003.json``: a registry as the release before
typed records (revision 0003) left it, for tests/integration/test_registry_upgrade.py.

Run it with that release's code, not this tree's, e.g. from a checkout of it::

    PYTHONPATH=<old checkout>/src python tests/data/make_registry_0003.py tests/data

It writes through that release's own ``Registry`` API the metadata its pipeline wrote
(pipeline/deploy.py, paths_deploy.py, requests.py): a promoted canary with checks, a level-4
baseline, the judge's analysis and traffic; a rollback by a rule after an abort request; a
deploy paused at 50 % with a promote waiting; an emergency deploy; a failed one. The JSON file
is the history as that release reads it back, to compare with after the upgrade.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safeship.registry import Registry

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


def check(
    name: str, status: str, level: int, latency_ms: float, detail: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "latency_ms": latency_ms,
        "detail": detail,
        "http_status": 200 if status == "ok" else 503,
        "critical": True,
        "level": level,
    }


BASELINE = {
    "path": "/health",
    "requests": 400,
    "errors": 2,
    "mean_ms": 11.5,
    "p50_ms": 9.8,
    "p95_ms": 21.4,
    "p99_ms": 33.1,
    "duration_s": 10.0,
    "cpu_percent": 12.5,
    "rss_mb": 48.2,
    "error_rate": 0.005,
    "compared_with": "v1.0.0",
    "regressions": [],
}
ANALYSIS = {
    "step": 25,
    "reason": "error rate and latency within the stable release's",
    "score": 96.0,
    "decision": "pass",
    "metrics": [
        {
            "name": "error_rate",
            "verdict": "pass",
            "canary": 0.004,
            "stable": 0.005,
            "n_canary": 250,
            "n_stable": 750,
            "p_high": 0.61,
            "p_low": 0.39,
            "effect": -0.001,
            "critical": True,
            "weight": 1.0,
        },
        {
            "name": "latency",
            "verdict": "pass",
            "canary": 10.2,
            "stable": 10.0,
            "n_canary": 250,
            "n_stable": 750,
            "p_high": 0.44,
            "p_low": 0.56,
            "effect": 1.02,
            "critical": False,
            "weight": 1.0,
        },
    ],
}


def write(registry: Registry) -> None:
    # 1. A canary promoted after its checks, baseline and analysis.
    first = registry.create_deployment(
        "production",
        "v1.1.0",
        "a1b2c3d",
        "ci@github",
        {
            "prepush": {
                "commit": "a1b2c3d",
                "gate": "passed",
                "checked_at": "2026-11-01T08:59:00Z",
            },
            "strategy": "canary",
            "stable_version": "v1.0.0",
        },
    )
    registry.update_deployment(
        first, status="deploying", metadata={"release": {"port": 9101, "pid": 4242}}
    )
    checks = [
        check("http", "ok", 1, 4.2),
        check("deep", "ok", 2, 18.0),
        check("smoke", "degraded", 3, 40.5, "1 of 5 slow"),
    ]
    registry.update_deployment(
        first, status="verifying", health_score=0.83, metadata={"checks": checks}
    )
    registry.update_deployment(first, metadata={"baseline": BASELINE})
    registry.update_deployment(
        first, status="progressing", current_step=25, metadata={"analysis": ANALYSIS}
    )
    traffic = {"v1.1.0": {"requests": 250, "errors": 1}, "v1.0.0": {"requests": 750, "errors": 4}}
    registry.update_deployment(
        first,
        status="succeeded",
        completed=True,
        health_score=0.83,
        error_count=1,
        metadata={"traffic": traffic},
    )
    registry.add_event(first, "deployment.succeeded", registry._now(), {"health_score": 0.83})

    # 2. Rolled back by a rule, after `safeship rollback` left an abort request.
    second = registry.create_deployment(
        "production",
        "v1.2.0",
        "b2c3d4e",
        "alice",
        {"strategy": "canary", "stable_version": "v1.1.0"},
    )
    registry.update_deployment(second, status="progressing", current_step=10)
    registry.update_deployment(second, metadata={"request": "abort", "requested_by": "rollback"})
    rollback = {
        "rule": "error_rate",
        "figures": {"error_rate": 0.12, "requests": 100, "errors": 12, "threshold": 0.05},
    }
    traffic = {"v1.2.0": {"requests": 100, "errors": 12}, "v1.1.0": {"requests": 900, "errors": 3}}
    registry.update_deployment(
        second,
        status="rolled_back",
        rollback_reason="error rate 12.0% over 100 requests exceeds the 5.0% threshold",
        completed=True,
        error_count=12,
        health_score=0.88,
        metadata={"rollback": rollback, "traffic": traffic},
    )
    registry.add_event(second, "rollback.triggered", registry._now(), {"rule": "error_rate"})

    # 3. Paused at 50 % with a promote waiting (still running when the upgrade comes).
    third = registry.create_deployment(
        "staging",
        "v2.0.0",
        None,
        "bob",
        {"path": "github-actions", "strategy": "canary", "stable_version": "v1.9.0"},
    )
    registry.update_deployment(
        third, status="progressing", current_step=50, metadata={"paused_at": 50}
    )
    registry.update_deployment(third, metadata={"request": "promote", "requested_by": "promote"})

    # 4. An emergency deploy from a laptop, and 5. one that failed its checks.
    fourth = registry.create_deployment(
        "production",
        "v1.2.1",
        "c3d4e5f",
        "carol",
        {
            "path": "local-emergency",
            "triggered_by": "ci-down",
            "operator": "carol@laptop",
            "strategy": "all-at-once",
            "stable_version": None,
        },
    )
    registry.update_deployment(fourth, status="succeeded", completed=True, health_score=1.0)
    fifth = registry.create_deployment(
        "staging", "v2.0.1", None, "bob", {"strategy": "all-at-once", "stable_version": None}
    )
    registry.update_deployment(
        fifth,
        status="failed",
        completed=True,
        health_score=0.0,
        metadata={"checks": [check("http", "failed", 1, 5000.0, "connection refused")]},
    )

    registry.add_event(None, "lock.taken", registry._now(), {"environment": "production"})
    registry.add_env_snapshot(
        "production",
        {"API_URL": {"value": "https://api.example.com", "fingerprint": None, "secret": False}},
        "ci",
    )


def as_data(registry: Registry) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "environment": r.environment,
            "version": r.version,
            "commit_sha": r.commit_sha,
            "triggered_by": r.triggered_by,
            "status": r.status,
            "started_at": r.started_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "current_step": r.current_step,
            "health_score": r.health_score,
            "error_count": r.error_count,
            "rollback_reason": r.rollback_reason,
            "metadata": r.metadata,
            "events": [e.name for e in registry.events(r.id)],
        }
        for r in registry.history(limit=100)
    ]


def main() -> None:
    out = Path(sys.argv[1])
    path = out / "registry_0003.db"
    path.unlink(missing_ok=True)
    with Registry(f"sqlite:///{path}", clock=Clock()) as registry:
        write(registry)
        history = as_data(registry)
    # One file, no WAL beside it: the test copies it.
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    (out / "registry_0003.json").write_text(json.dumps(history, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
