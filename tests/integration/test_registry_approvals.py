"""The approvals table on both backends: one answer per user and deployment (a second is not
written), read oldest first, and what neither backend may store is refused the same way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from safeship.registry import Registry, RegistryError


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    with Registry(registry_url) as reg:
        yield reg


def test_an_answer_is_recorded_once_per_user(registry: Registry) -> None:
    deployment_id = registry.create_deployment("production", "v2", None, "alice")

    assert registry.add_approval(deployment_id, "bob", "approve", "plan checked", "cli")
    assert not registry.add_approval(deployment_id, "bob", "reject", "changed my mind", "cli")
    assert registry.add_approval(deployment_id, "github:octocat", "approve", None, "github")

    answers = registry.approvals(deployment_id)
    assert [(a.user, a.decision, a.reason, a.via) for a in answers] == [
        ("bob", "approve", "plan checked", "cli"),
        ("github:octocat", "approve", None, "github"),
    ]
    assert all(a.deployment_id == deployment_id for a in answers)
    other = registry.create_deployment("production", "v3", None, "alice")
    assert registry.approvals(other) == []


def test_what_a_backend_would_refuse_is_refused_on_both(registry: Registry) -> None:
    deployment_id = registry.create_deployment("production", "v2", None, "alice")
    with pytest.raises(RegistryError, match="decision must be one of approve, reject"):
        registry.add_approval(deployment_id, "bob", "maybe", None, "cli")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="via must be one of cli, dashboard, github"):
        registry.add_approval(deployment_id, "bob", "approve", None, "email")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="NUL"):
        registry.add_approval(deployment_id, "bob", "approve", "a\x00b", "cli")
    assert registry.approvals(deployment_id) == []
