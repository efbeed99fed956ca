"""benchmarks/seed_registry.py writes rows the registry reads back as it wrote them itself, on
both backends (the dashboard's and the analytics' benchmarks stand on it)."""

from __future__ import annotations

import sys
from pathlib import Path

from safeship.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from seed_registry import ENVIRONMENTS, seed


def test_seeded_rows_read_back_through_the_registry(registry_url: str) -> None:
    summary = seed(registry_url, 60, seed=7)
    assert summary.deployments == 60
    assert 10 * 60 <= summary.events <= 30 * 60
    assert summary.check_results == 6 * 60
    with Registry(registry_url) as registry:
        history = registry.history(None, limit=100)
        assert len(history) == 60
        assert {d.environment for d in history} <= set(ENVIRONMENTS)
        assert all(d.is_terminal and d.completed_at is not None for d in history)
        assert [d.started_at for d in history] == sorted(
            (d.started_at for d in history), reverse=True
        )
        assert sum(len(d.steps) for d in history) == summary.step_results
        newest = registry.get(summary.samples[0])
        assert newest is not None and len(newest.checks) == 6
        events = registry.events(newest.id)
        assert events[0].name == "deployment.started"
        assert events[-1].name.startswith("deployment.")
        logged = registry.event_log(environment=newest.environment, limit=5)
        assert len(logged) == 5
        assert all(e.attributes["environment"] == newest.environment for e in logged)
