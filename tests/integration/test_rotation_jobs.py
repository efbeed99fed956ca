"""`safeship serve`'s rotation job (``[jobs.rotation]``) on a real SQLite registry and the real
encrypted file store: a secret due is reminded once (again only when it gets worse), a secret
never rotated is reminded, a rotation recorded in the registry clears its reminder; the job
itself is registered, claimed per period, and finishes rotations past their grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from safeship.config import LoadedConfig, load_config
from safeship.core._jobs import background_jobs, run_job
from safeship.jobs.rotation import TRIGGERED_BY, remind
from safeship.registry import Registry
from safeship.secrets.encrypted_file import EncryptedFileStore

CONFIG = """\
[environments.staging]
port = 9401
target = { type = "local", command = ["python", "app.py"] }

[environments.production]
port = 9402
target = { type = "local", command = ["python", "app.py"] }

[secrets]
grace = 0.0

[secrets.rotate.JWT_SECRET]
kind = "random"
category = "application"
environments = ["staging", "production"]

[secrets.rotate.STRIPE_KEY]
kind = "random"
category = "api"
"""
DUE = "secret.rotation_due/JWT_SECRET"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadedConfig:
    monkeypatch.setenv("SAFESHIP_SECRETS_KEY", Fernet.generate_key().decode())
    path = tmp_path / "safeship.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def firing(registry: Registry, environment: str) -> dict[str, str]:
    return {s.condition: s.severity for s in registry.firing_alerts(environment)}


def record_rotation(registry: Registry, environments: list[str]) -> None:
    """A finished rotation as the protocol records it: its row, a finish step done in each
    environment."""
    rotation = registry.start_rotation(
        "JWT_SECRET", "random", "application", environments, "cli:alice", "alice@host pid 1"
    )
    for environment in environments:
        step = registry.start_rotation_step(rotation, environment, "finish", "cli:alice")
        registry.finish_rotation_step(step, "done")
    registry.update_rotation(rotation, status="finished", finished=True)


def test_a_due_secret_is_reminded_once_and_cleared_by_its_rotation(loaded: LoadedConfig) -> None:
    # Staging's key was stored (not yet rotated by safeship): the store's date counts.
    store = EncryptedFileStore("staging", loaded.config.secrets, loaded.base_dir)
    store.set_labels("JWT_SECRET", {"current": store.put("JWT_SECRET", "k" * 40, cas=0)})
    clock = Clock(datetime.now(UTC) + timedelta(days=25))  # period 30, reminded 7 days before
    with Registry(loaded.registry_url(), clock=clock) as registry:
        first = remind(loaded.config, loaded.base_dir, registry, clock(), clock)
        assert first.failed == {}
        assert {key: due.state for key, due in first.states.items()} == {
            ("JWT_SECRET", "staging"): "due",
            ("JWT_SECRET", "production"): "never_rotated",
            ("STRIPE_KEY", "staging"): "on_demand",  # an API key: rotated on demand only
            ("STRIPE_KEY", "production"): "on_demand",
        }
        assert [(e.event, e.environment) for e in first.raised] == [
            ("secret.rotation_due", "staging"),
            ("secret.rotation_due", "production"),
        ]
        assert first.raised[0].triggered_by == TRIGGERED_BY
        assert first.raised[0].attributes["state"] == "due"
        assert "k" * 40 not in repr(first.raised)
        assert firing(registry, "staging") == {DUE: "warning"}
        assert firing(registry, "production") == {DUE: "error"}

        again = remind(loaded.config, loaded.base_dir, registry, clock(), clock)
        assert again.raised == []  # firing already: not once a pass

        clock.now += timedelta(days=10)  # staging's key is overdue now: worse, said again
        worse = remind(loaded.config, loaded.base_dir, registry, clock(), clock)
        assert [(e.event, e.attributes["state"]) for e in worse.raised] == [
            ("secret.rotation_due", "overdue")
        ]
        assert firing(registry, "staging") == {DUE: "error"}

        record_rotation(registry, ["staging", "production"])
        cleared = remind(loaded.config, loaded.base_dir, registry, clock(), clock)
        assert [(e.event, e.environment) for e in cleared.raised] == [
            ("secret.rotation_due_cleared", "staging"),
            ("secret.rotation_due_cleared", "production"),
        ]
        assert cleared.states[("JWT_SECRET", "production")].state == "ok"
        assert firing(registry, "staging") == {} and firing(registry, "production") == {}
        assert remind(loaded.config, loaded.base_dir, registry, clock(), clock).raised == []


def test_an_unreadable_store_is_one_line_and_the_others_are_still_reminded(
    loaded: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EncryptedFileStore("staging", loaded.config.secrets, loaded.base_dir)
    store.set_labels("JWT_SECRET", {"current": store.put("JWT_SECRET", "k" * 40, cas=0)})
    monkeypatch.setenv("SAFESHIP_SECRETS_KEY", Fernet.generate_key().decode())  # another key
    with Registry(loaded.registry_url()) as registry:
        found = remind(loaded.config, loaded.base_dir, registry, datetime.now(UTC))
    assert set(found.failed) == {
        ("JWT_SECRET", "staging"),
        ("JWT_SECRET", "production"),
        ("STRIPE_KEY", "staging"),
        ("STRIPE_KEY", "production"),
    }
    why = found.failed[("JWT_SECRET", "staging")]
    assert "cannot decrypt" in why and "\n" not in why


def test_the_job_is_registered_only_with_secrets_to_rotate(
    loaded: LoadedConfig, tmp_path: Path
) -> None:
    statuses = {s.name: s for s in background_jobs(loaded).statuses()}
    assert statuses["rotation"].enabled and statuses["rotation"].every_seconds == 3600.0
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "safeship.toml").write_text(CONFIG.split("[secrets]")[0], encoding="utf-8")
    names = {s.name for s in background_jobs(load_config(bare / "safeship.toml")).statuses()}
    assert "rotation" not in names


# Needs h-proto's safeship.core.finish_due_rotations (issue 16's protocol): it passes once
# that branch is merged, and fails before with "finishing rotations: ...".
def test_a_run_reminds_and_finishes_rotations_past_their_grace(loaded: LoadedConfig) -> None:
    status = run_job(loaded, "rotation")
    assert (status.last_ok, status.last_error) == (True, None)
    with Registry(loaded.registry_url()) as registry:
        assert firing(registry, "production") == {DUE: "error"}  # never rotated
