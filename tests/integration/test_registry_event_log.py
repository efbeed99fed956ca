"""The registry's event log (what `safeship logs` reads) on real SQLite and PostgreSQL: by
environment (deployment events and environment-level ones), by deployment, from a time, after
an id, the newest N oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from safeship.registry import Registry

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    with Registry(registry_url) as reg:
        yield reg


def document(environment: str, **attributes: object) -> dict[str, object]:
    """What the RegistrySink stores for an event."""
    return {"environment": environment, "version": "v1", "attributes": attributes}


def test_the_event_log_filters_and_pages(registry: Registry) -> None:
    prod = registry.create_deployment("production", "v1", None, "ci")
    staging = registry.create_deployment("staging", "v1", None, "ci")
    registry.add_event(prod, "deployment.started", T0, document("production"))
    registry.add_event(staging, "deployment.started", T0, document("staging"))
    registry.add_event(None, "watch.degraded", T0 + timedelta(minutes=5),
                       document("production", condition="error_rate.high"))  # fmt: skip
    registry.add_event(prod, "deployment.succeeded", T0 + timedelta(minutes=1),
                       document("production"))  # fmt: skip

    every = registry.event_log(environment="production")
    # In the order they were written (a late-arriving event is not reordered for a follower).
    assert [e.name for e in every] == ["deployment.started", "watch.degraded",
                                       "deployment.succeeded"]  # fmt: skip
    assert every[1].deployment_id is None
    assert [e.name for e in registry.event_log(deployment_id=prod)] == [
        "deployment.started",
        "deployment.succeeded",
    ]
    assert [e.name for e in registry.event_log(environment="staging")] == ["deployment.started"]
    later = registry.event_log(environment="production", since=T0 + timedelta(seconds=30))
    assert [e.name for e in later] == ["watch.degraded", "deployment.succeeded"]
    assert [e.name for e in registry.event_log(limit=1)] == ["deployment.succeeded"]
    after = registry.event_log(environment="production", after_id=every[1].id)
    assert [e.id for e in after] == [every[2].id]
    assert registry.event_log(environment="nowhere") == []
    assert registry.event_log(deployment_id="not-an-id") == []
