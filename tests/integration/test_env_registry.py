"""Environment snapshots in the registry, on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from safeship.registry import Registry, RegistryError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    with Registry(registry_url, clock=StepClock()) as reg:
        yield reg


PUBLIC = {"value": "G-ABC", "fingerprint": None, "secret": False}
SECRET = {"value": None, "fingerprint": "0123456789abcdef", "secret": True}


def test_snapshots_round_trip_newest_first(registry: Registry) -> None:
    first = registry.add_env_snapshot(
        "production", {"GA": PUBLIC, "KEY": SECRET}, "alice", fingerprint_key_id="k1"
    )
    second = registry.add_env_snapshot("production", {"GA": PUBLIC}, "ci")
    registry.add_env_snapshot("staging", {}, "ci")
    snaps = registry.env_snapshots("production")
    assert [s.id for s in snaps] == [second, first]
    assert snaps[1].variables == {"GA": PUBLIC, "KEY": SECRET}
    assert snaps[1].taken_by == "alice" and snaps[1].fingerprint_key_id == "k1"
    assert snaps[1].taken_at == T0 + timedelta(seconds=1)
    assert snaps[0].fingerprint_key_id is None
    assert [s.id for s in registry.env_snapshots("production", limit=1)] == [second]
    assert registry.env_snapshots("nowhere") == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"value": "hunter2", "fingerprint": "ab", "secret": True},
            "snapshot entry 'X' is secret: store its fingerprint only",
        ),
        (
            {"value": None, "fingerprint": None, "secret": True},
            "snapshot entry 'X' is secret: store its fingerprint only",
        ),
        (
            {"value": None, "fingerprint": "ab", "secret": False},
            "snapshot entry 'X' is not secret but has no value",
        ),
        (
            {"value": "x", "fingerprint": None, "secret": "no"},
            "snapshot entry 'X' must be {value, fingerprint, secret}",
        ),
        (
            {"value": "x", "fingerprint": None, "secret": False, "extra": 1},
            "snapshot entry 'X' must be {value, fingerprint, secret}",
        ),
    ],
)
def test_the_registry_refuses_to_store_a_secret_value(
    registry: Registry, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        registry.add_env_snapshot("production", {"X": entry}, "ci")
    assert str(caught.value) == message
    assert registry.env_snapshots("production") == []


def test_snapshot_arguments_are_checked(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="environment must not be empty"):
        registry.add_env_snapshot("", {}, "ci")
    with pytest.raises(RegistryError, match="taken_by is longer than 255"):
        registry.add_env_snapshot("production", {}, "x" * 256)
    with pytest.raises(RegistryError, match="limit must be positive"):
        registry.env_snapshots("production", limit=0)
