"""The registry on real SQLite and PostgreSQL: each test taking ``registry_url`` runs on both."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from safeship.registry import (
    TERMINAL_STATUSES,
    DeploymentRecord,
    EventRecord,
    Registry,
    RegistryError,
)
from safeship.registry.migrations import HEAD, alembic_config, head_revision
from safeship.registry.models import Base
from safeship.registry.schema import generate_sqlite_schema, sqlite_schema

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """Deterministic clock: each reading is one second after the previous one."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def registry(registry_url: str, clock: StepClock) -> Iterator[Registry]:
    with Registry(registry_url, clock=clock) as reg:
        yield reg


@pytest.fixture
def raw_engine(registry_url: str) -> Iterator[Engine]:
    """A plain engine on the same database, to look behind the registry's back."""
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- schema --------------------------------------------------------------------------------


def test_opening_applies_migrations_to_head(registry: Registry, raw_engine: Engine) -> None:
    registry.create_deployment("staging", "v1", None, "ci")  # a SQLite file is made on write
    tables = set(inspect(raw_engine).get_table_names())
    assert {"deployments", "events", "alembic_version"} <= tables
    with raw_engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert versions == [head_revision()]


def test_models_and_migrations_agree(raw_engine: Engine) -> None:
    """Every revision applied in turn to an empty database makes the models' schema."""
    with raw_engine.connect() as conn, conn.begin():
        command.upgrade(alembic_config(conn), "head")
    with raw_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == head_revision() == HEAD


def test_a_new_registry_is_made_at_head_from_the_models(
    registry: Registry, raw_engine: Engine
) -> None:
    """A new registry is not replayed revision by revision: SQLite's is made from the schema
    file, PostgreSQL's from the models; either is the models' schema, stamped at HEAD."""
    registry.create_deployment("staging", "v1", None, "ci")
    with raw_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == HEAD


def test_the_sqlite_schema_file_is_what_the_models_make() -> None:
    assert sqlite_schema() == generate_sqlite_schema(), (
        "run `python -m safeship.registry.schema` after changing the models"
    )


def test_reopening_is_a_no_op(registry_url: str) -> None:
    with Registry(registry_url) as first:
        deployment_id = first.create_deployment("staging", "v1", None, "ci")
    with Registry(registry_url) as second:
        record = second.get(deployment_id)
    assert record is not None and record.version == "v1"


def test_concurrent_opens_of_a_fresh_database_all_work(registry_url: str) -> None:
    opened = 4
    barrier = threading.Barrier(opened)
    errors: list[BaseException] = []
    ids: list[str] = []

    def open_and_write() -> None:
        try:
            barrier.wait(timeout=10)
            with Registry(registry_url) as reg:
                ids.append(reg.create_deployment("production", "v1", "abc", "runner"))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write) for _ in range(opened)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with Registry(registry_url) as reg:
        assert sorted(r.id for r in reg.history("production")) == sorted(ids)
        assert len(ids) == opened


# Runs in a child process: import first, say so, then open the registry when told to.
_OPEN_WHEN_TOLD = """
import sys
from safeship.registry import Registry
print("ready", flush=True)
sys.stdin.readline()
with Registry(sys.argv[1]) as reg:
    print(reg.create_deployment("production", "v1", None, "runner"), flush=True)
"""


def test_concurrent_processes_opening_a_fresh_database_all_work(registry_url: str) -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_WHEN_TOLD, registry_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    ids = {out.strip() for out, _ in results}
    with Registry(registry_url) as reg:
        assert {r.id for r in reg.history("production")} == ids


def test_schema_newer_than_the_code_is_refused(registry_url: str, raw_engine: Engine) -> None:
    with Registry(registry_url) as reg:
        reg.create_deployment("staging", "v1", None, "ci")
    with raw_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(RegistryError, match="9999_future"):
        Registry(registry_url)


# -- deployments ---------------------------------------------------------------------------


def test_create_records_a_pending_deployment(registry: Registry) -> None:
    deployment_id = registry.create_deployment(
        "production", "v1.4.0", "abc123", "ci@github", path="github-actions"
    )

    assert uuid.UUID(deployment_id).version == 4
    record = registry.get(deployment_id)
    assert record == DeploymentRecord(
        id=deployment_id,
        environment="production",
        version="v1.4.0",
        commit_sha="abc123",
        triggered_by="ci@github",
        status="pending",
        started_at=T0 + timedelta(seconds=1),
        completed_at=None,
        current_step=None,
        health_score=None,
        error_count=0,
        rollback_reason=None,
        path="github-actions",
    )
    assert record.duration_seconds is None
    assert not record.is_terminal


def test_get_unknown_or_malformed_id_returns_none(registry: Registry) -> None:
    assert registry.get(str(uuid.uuid4())) is None
    assert registry.get("not-a-uuid") is None


def test_update_changes_the_given_fields_only(registry: Registry) -> None:
    deployment_id = registry.create_deployment("production", "v2", None, "alice", path="local")
    registry.update_deployment(deployment_id, status="progressing", current_step=10)
    registry.update_deployment(deployment_id, health_score=0.87, error_count=3, path="circleci")
    registry.update_deployment(
        deployment_id,
        status="rolled_back",
        rollback_reason="p99 latency 3x baseline",
        completed=True,
    )

    record = registry.get(deployment_id)
    assert record is not None
    assert record.status == "rolled_back" and record.is_terminal
    assert record.current_step == 10
    assert record.health_score == pytest.approx(0.87)
    assert record.error_count == 3
    assert record.rollback_reason == "p99 latency 3x baseline"
    assert record.path == "circleci"
    # Clock readings: 1 create, 2 completed.
    assert record.completed_at == T0 + timedelta(seconds=2)
    assert record.duration_seconds == 1.0


def test_record_is_detached_plain_data(registry: Registry) -> None:
    deployment_id = registry.create_deployment("staging", "v1", None, "bob", notes="a: 1")
    record = registry.get(deployment_id)
    assert record is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = "failed"  # type: ignore[misc]
    registry.update_deployment(deployment_id, status="validating")
    assert record.status == "pending" and record.notes == "a: 1"  # a copy, not a live row


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "shipped"}, "unknown status 'shipped'"),
        ({"current_step": 101}, "current_step"),
        ({"health_score": 1.5}, "health_score"),
        ({"health_score": float("nan")}, "health_score"),
        ({"error_count": -1}, "error_count"),
    ],
)
def test_invalid_updates_are_rejected_and_change_nothing(
    registry: Registry, change: dict[str, Any], message: str
) -> None:
    deployment_id = registry.create_deployment("staging", "v1", None, "ci")
    before = registry.get(deployment_id)
    with pytest.raises(RegistryError, match=message):
        registry.update_deployment(deployment_id, **change)
    assert registry.get(deployment_id) == before


def test_update_of_unknown_deployment_fails(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="no deployment"):
        registry.update_deployment(str(uuid.uuid4()), status="failed")
    with pytest.raises(RegistryError, match="no deployment"):
        registry.update_deployment("nope", status="failed")


def test_create_rejects_empty_and_overlong_text_on_every_backend(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="environment must not be empty"):
        registry.create_deployment("", "v1", None, "ci")
    with pytest.raises(RegistryError, match="version is longer than 255"):
        registry.create_deployment("staging", "v" * 256, None, "ci")
    with pytest.raises(RegistryError, match="triggered_by contains a NUL"):
        registry.create_deployment("staging", "v1", None, "c\x00i")
    assert registry.history() == []


def test_a_request_is_handled_once_whoever_races_for_it(registry: Registry) -> None:
    deployment_id = registry.create_deployment("production", "v1", None, "ci")
    for _ in range(10):
        registry.add_request(deployment_id, "abort", "safeship abort")
    ids = [r.id for r in registry.requests(deployment_id)]
    won: list[int] = []

    def race() -> None:
        for request_id in ids:
            if registry.mark_request_handled(request_id):
                won.append(request_id)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(won) == ids  # each marked by exactly one racer
    assert registry.pending_request(deployment_id) is None


def test_json_round_trips_unchanged(registry: Registry) -> None:
    attributes: dict[str, Any] = {
        "nested": {"list": [1, 2.5, None, True, False, "x"], "empty": {}},
        "unicode": "déploiement ✓ 部署",
        "big": 2**53,
        "quote": 'say "hi"',
    }
    deployment_id = registry.create_deployment("staging", "v1", None, "ci")
    registry.add_event(deployment_id, "check.completed", T0, attributes)
    assert registry.events(deployment_id)[0].attributes == attributes


@pytest.mark.parametrize("bad", [{"when": object()}, {"score": float("nan")}])
def test_non_json_attributes_are_rejected_alike(registry: Registry, bad: dict[str, Any]) -> None:
    deployment_id = registry.create_deployment("staging", "v1", None, "ci")
    with pytest.raises(RegistryError, match="attributes is not plain JSON"):
        registry.add_event(deployment_id, "check.completed", T0, bad)


def test_history_is_newest_first_with_filter_and_limit(registry: Registry) -> None:
    ids = [
        registry.create_deployment(env, f"v{n}", None, "ci")
        for n, env in enumerate(["staging", "production", "staging", "production", "staging"])
    ]

    assert [r.id for r in registry.history()] == ids[::-1]
    assert [r.id for r in registry.history("staging")] == [ids[4], ids[2], ids[0]]
    assert [r.id for r in registry.history("production", limit=1)] == [ids[3]]
    assert registry.history("nowhere") == []
    with pytest.raises(RegistryError):
        registry.history(limit=0)


def test_active_lists_only_non_terminal_deployments(registry: Registry) -> None:
    statuses = ["succeeded", "progressing", "failed", "awaiting_approval", "rolled_back", "aborted"]
    ids = {}
    for status in statuses:
        ids[status] = registry.create_deployment("production", status, None, "ci")
        registry.update_deployment(ids[status], status=status)
    registry.create_deployment("staging", "other", None, "ci")

    active = registry.active("production")
    assert [r.id for r in active] == [ids["awaiting_approval"], ids["progressing"]]
    assert all(r.status not in TERMINAL_STATUSES for r in active)


def test_last_succeeded_optionally_before_a_deployment(registry: Registry) -> None:
    def deploy(env: str, version: str, status: str) -> str:
        deployment_id = registry.create_deployment(env, version, None, "ci")
        registry.update_deployment(deployment_id, status=status, completed=True)
        return deployment_id

    assert registry.last_succeeded("production") is None
    v1 = deploy("production", "v1", "succeeded")
    v2 = deploy("production", "v2", "succeeded")
    v3 = deploy("production", "v3", "rolled_back")
    deploy("staging", "v4", "succeeded")
    v5 = deploy("production", "v5", "failed")

    def version_of(record: DeploymentRecord | None) -> str | None:
        return record.version if record else None

    assert version_of(registry.last_succeeded("production")) == "v2"
    assert version_of(registry.last_succeeded("production", before=v5)) == "v2"
    assert version_of(registry.last_succeeded("production", before=v3)) == "v2"
    assert version_of(registry.last_succeeded("production", before=v2)) == "v1"
    assert registry.last_succeeded("production", before=v1) is None
    with pytest.raises(RegistryError, match="no deployment"):
        registry.last_succeeded("production", before=str(uuid.uuid4()))


def test_find_by_unique_prefix(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = iter(
        [
            uuid.UUID("abcdef01-1111-4111-8111-111111111111"),
            uuid.UUID("abcdef02-2222-4222-8222-222222222222"),
        ]
    )
    monkeypatch.setattr(uuid, "uuid4", lambda: next(fixed))  # the registry draws ids here
    first = registry.create_deployment("staging", "v1", None, "ci")
    second = registry.create_deployment("staging", "v2", None, "ci")

    assert registry.find("abcdef01").id == first  # type: ignore[union-attr]
    assert registry.find("ABCDEF02-2222-4").id == second  # type: ignore[union-attr]
    assert registry.find(second).id == second  # type: ignore[union-attr]
    assert registry.find("000000") is None
    with pytest.raises(RegistryError, match="more than one"):
        registry.find("abcdef")
    with pytest.raises(RegistryError, match="hex digits"):
        registry.find("abcde")


# -- events --------------------------------------------------------------------------------


def test_events_come_back_in_time_order(registry: Registry) -> None:
    deployment_id = registry.create_deployment("production", "v1", "abc", "ci")
    other_id = registry.create_deployment("production", "v0", None, "ci")
    registry.add_event(deployment_id, "stage.passed", T0 + timedelta(seconds=2), {"stage": 1})
    registry.add_event(deployment_id, "deployment.started", T0, {})
    registry.add_event(deployment_id, "stage.started", T0 + timedelta(seconds=1), {"stage": 1})
    registry.add_event(other_id, "deployment.started", T0, {})

    events = registry.events(deployment_id)
    assert [e.name for e in events] == ["deployment.started", "stage.started", "stage.passed"]
    assert all(isinstance(e, EventRecord) and e.deployment_id == deployment_id for e in events)
    assert events[1].attributes == {"stage": 1}
    assert registry.events(str(uuid.uuid4())) == []


def test_environment_level_events_have_no_deployment(registry: Registry) -> None:
    registry.add_event(None, "path.failover", T0, {"deployment.environment.name": "production"})
    (event,) = registry.events(None)
    assert event.deployment_id is None
    assert event.attributes == {"deployment.environment.name": "production"}


def test_event_for_unknown_deployment_is_rejected(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="no deployment"):
        registry.add_event(str(uuid.uuid4()), "stage.started", T0, {})
    with pytest.raises(RegistryError, match="time zone"):
        registry.add_event(None, "stage.started", datetime(2026, 1, 1), {})
    assert registry.events(None) == []


def test_datetimes_are_timezone_aware_utc(registry_url: str) -> None:
    if registry_url.startswith("postgresql"):
        # A session time zone far from UTC proves values are converted, not just labelled.
        registry_url += "?options=-c%20timezone%3DAsia%2FTokyo"
    ist = timezone(timedelta(hours=5, minutes=30))
    local_start = datetime(2026, 3, 1, 17, 30, 0, 123456, tzinfo=ist)
    with Registry(registry_url, clock=lambda: local_start) as reg:
        deployment_id = reg.create_deployment("staging", "v1", None, "ci")
        reg.update_deployment(deployment_id, completed=True)
        reg.add_event(deployment_id, "deployment.started", local_start, {})
        record = reg.get(deployment_id)
        (event,) = reg.events(deployment_id)
    assert record is not None
    for value in (record.started_at, record.completed_at, event.timestamp):
        assert value == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
        assert value is not None and value.tzinfo is UTC


def test_default_clock_is_now_in_utc(registry_url: str) -> None:
    before = datetime.now(UTC)
    with Registry(registry_url) as reg:
        record = reg.get(reg.create_deployment("staging", "v1", None, "ci"))
    assert record is not None
    assert record.started_at.tzinfo is UTC
    assert before <= record.started_at <= datetime.now(UTC)


# -- opening and errors --------------------------------------------------------------------


def test_sqlite_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Registry("sqlite:///.safeship/registry.db") as reg:
        reg.create_deployment("staging", "v1", None, "ci")
    assert (tmp_path / ".safeship" / "registry.db").is_file()


def test_sqlite_creates_parent_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "registry.db"
    with Registry(f"sqlite:///{path}") as reg:
        reg.create_deployment("staging", "v1", None, "ci")
    assert path.is_file()
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_unreachable_postgresql_error_hides_the_password() -> None:
    url = f"postgresql://deployer:Sup3r-s3cret-pw@127.0.0.1:{_free_port()}/registry"
    with pytest.raises(RegistryError) as caught:
        Registry(url)
    message = str(caught.value)
    assert "Sup3r-s3cret-pw" not in message
    assert "deployer:***@127.0.0.1" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:hunter2-pw@db/registry",
        "not a url at all://x:hunter2-pw@",
        "postgresql://u:hunter2-pw@host:notaport/db",
    ],
)
def test_bad_urls_are_registry_errors_without_password(url: str) -> None:
    with pytest.raises(RegistryError) as caught:
        Registry(url)
    assert "hunter2-pw" not in str(caught.value)
    assert "\n" not in str(caught.value)
