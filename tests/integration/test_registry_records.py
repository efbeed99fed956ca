"""The registry's typed records (requests, step and check results, baselines, the typed
deployment fields) on both backends, and what opening a registry costs: no SQLAlchemy or
Alembic for reading a SQLite file that is at HEAD."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import String

from safeship.registry import (
    BaselineRecord,
    CheckResultRecord,
    Registry,
    RegistryError,
    StepResult,
)
from safeship.registry import records as limits
from safeship.registry.migrations import HEAD, head_revision
from safeship.registry.models import (
    BaselineRow,
    CheckResultRow,
    Deployment,
    DeploymentRequest,
    EnvironmentLease,
    EnvSnapshot,
    Event,
)

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


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


@pytest.fixture
def deployment(registry: Registry) -> str:
    return registry.create_deployment("production", "v2", "abc", "ci")


# -- what the fast path relies on -------------------------------------------------------------


def test_the_head_constant_is_alembics_head() -> None:
    assert head_revision() == HEAD


@pytest.mark.parametrize(
    ("limit", "column"),
    [
        (limits.ENVIRONMENT_LEN, Deployment.environment),
        (limits.VERSION_LEN, Deployment.version),
        (limits.COMMIT_LEN, Deployment.commit_sha),
        (limits.PERSON_LEN, Deployment.triggered_by),
        (limits.PATH_LEN, Deployment.path),
        (limits.STRATEGY_LEN, Deployment.strategy),
        (limits.RULE_LEN, Deployment.rollback_rule),
        (limits.VERDICT_LEN, Deployment.gate_verdict),
        (limits.EVENT_NAME_LEN, Event.name),
        (limits.KEY_ID_LEN, EnvSnapshot.fingerprint_key_id),
        (limits.PERSON_LEN, EnvSnapshot.taken_by),
        (limits.PERSON_LEN, EnvironmentLease.holder),
        (limits.PERSON_LEN, DeploymentRequest.requested_by),
        (limits.CHECK_NAME_LEN, CheckResultRow.name),
        (limits.ENVIRONMENT_LEN, BaselineRow.environment),
    ],
)
def test_checked_lengths_are_the_columns_lengths(limit: int, column: object) -> None:
    column_type = getattr(column, "type", None)
    assert isinstance(column_type, String) and column_type.length == limit


_USE_AND_REPORT = """
import sys
from safeship.registry import Registry
with Registry(sys.argv[1]) as registry:
    print(len(registry.history("production")), registry.get(sys.argv[2]) is not None)
    print(sorted(m for m in ("sqlalchemy", "alembic", "pydantic") if m in sys.modules))
    new = registry.create_deployment("production", "v2", None, "ci")
    registry.update_deployment(new, status="succeeded", completed=True, paused_at=50)
    registry.add_event(new, "deployment.succeeded", registry._now(), {})
    lease = registry.acquire_lease("production", "me", 30)
    registry.release_lease("production", lease.token)
    print(sorted(m for m in ("sqlalchemy", "alembic", "pydantic") if m in sys.modules))
"""


def test_a_sqlite_registry_at_head_is_used_without_sqlalchemy_or_alembic(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with Registry(url) as registry:
        deployment_id = registry.create_deployment("production", "v1", None, "ci")
    done = subprocess.run(
        [sys.executable, "-c", _USE_AND_REPORT, url, deployment_id],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split("\n")[:3] == ["1 True", "[]", "[]"]


def test_a_missing_sqlite_registry_reads_as_empty_and_is_made_by_the_first_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        assert registry.history() == [] and registry.lease("production") is None
        assert not path.exists()
        deployment_id = registry.create_deployment("production", "v1", None, "ci")
        assert [r.id for r in registry.history()] == [deployment_id]  # read back from the file
    assert path.is_file()


# -- typed deployment fields -------------------------------------------------------------------


def test_typed_fields_are_written_and_read(registry: Registry) -> None:
    deployment_id = registry.create_deployment(
        "production",
        "v3",
        None,
        "ci",
        path="github-actions",
        strategy="canary",
        gate_verdict="passed",
    )
    registry.update_deployment(
        deployment_id,
        status="rolled_back",
        rollback_reason="error rate 9% over the 5% threshold",
        rollback_rule="error_rate",
        health_score=0.91,
        error_count=9,
        completed=True,
    )
    record = registry.get(deployment_id)
    assert record is not None
    assert (record.path, record.strategy, record.gate_verdict) == (
        "github-actions",
        "canary",
        "passed",
    )
    assert (record.rollback_rule, record.health_score, record.error_count) == (
        "error_rate",
        0.91,
        9,
    )


def test_the_stable_release_notes_and_a_pause_are_recorded(registry: Registry) -> None:
    deployment_id = registry.create_deployment(
        "production", "v3", None, "ci", stable_version="v2", notes="operator: carol@laptop"
    )
    registry.update_deployment(deployment_id, paused_at=50)
    record = registry.get(deployment_id)
    assert record is not None
    assert (record.stable_version, record.notes, record.paused_at) == (
        "v2",
        "operator: carol@laptop",
        50,
    )
    registry.update_deployment(deployment_id, cleared=("paused_at",))
    record = registry.get(deployment_id)
    assert record is not None and record.paused_at is None
    with pytest.raises(RegistryError, match="cannot clear"):
        registry.update_deployment(deployment_id, cleared=("path",))


def test_a_steps_figures_replace_its_earlier_ones_and_come_with_the_deployment(
    registry: Registry, deployment: str
) -> None:
    registry.add_step_result(deployment, StepResult(0, 10, "continue", score=50.0))
    registry.add_step_result(deployment, StepResult(0, 10, "pass", score=100.0))
    registry.add_step_result(deployment, StepResult(1, 50, "pass", error_verdict="pass"))
    steps = registry.step_results(deployment)
    assert [(s.step_index, s.verdict, s.score) for s in steps] == [
        (0, "pass", 100.0),
        (1, "pass", None),
    ]
    record = registry.get(deployment)
    assert record is not None and record.steps == tuple(steps)
    assert [r.steps for r in registry.history()] == [tuple(steps)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rollback_rule", "r" * 65, "longer than 64"),
        ("strategy", "s\x00", "NUL"),
        ("gate_verdict", "v" * 33, "longer than 32"),
    ],
)
def test_invalid_typed_fields_are_refused(
    registry: Registry, deployment: str, field: str, value: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.update_deployment(deployment, **{field: value})  # type: ignore[arg-type]


# -- manual requests ---------------------------------------------------------------------------


def test_requests_are_pending_until_handled_in_the_order_they_came(
    registry: Registry, deployment: str
) -> None:
    assert registry.pending_request(deployment) is None
    registry.add_request(deployment, "pause", "safeship pause", reason="watching a dashboard")
    registry.add_request(deployment, "abort", "alice")
    first = registry.pending_request(deployment)
    assert first is not None
    assert (first.kind, first.requested_by, first.reason, first.handled_at) == (
        "pause",
        "safeship pause",
        "watching a dashboard",
        None,
    )
    assert registry.mark_request_handled(first.id)
    assert not registry.mark_request_handled(first.id)  # once only
    second = registry.pending_request(deployment)
    assert second is not None and second.kind == "abort"
    handled = registry.requests(deployment)[0]
    assert handled.handled_at is not None and handled.handled_at > handled.created_at


def test_a_request_of_an_unknown_kind_or_deployment_is_refused(
    registry: Registry, deployment: str
) -> None:
    with pytest.raises(RegistryError, match="unknown request 'explode'"):
        registry.add_request(deployment, "explode", "alice")
    with pytest.raises(RegistryError, match="no deployment"):
        registry.add_request("00000000-0000-4000-8000-000000000000", "abort", "alice")
    assert registry.pending_request("not-an-id") is None


# -- step and check results --------------------------------------------------------------------


def test_step_results_round_trip_in_step_order(registry: Registry, deployment: str) -> None:
    later = StepResult(step_index=1, weight=50, verdict="pass", score=91.5, canary_requests=400)
    first = StepResult(
        step_index=0,
        weight=10,
        verdict="continue",
        score=None,
        reason="too few requests to judge",
        canary_error_rate=0.01,
        stable_error_rate=0.008,
        error_p_value=0.42,
        canary_latency_ms=12.5,
        stable_latency_ms=11.0,
        latency_ratio=1.14,
        canary_requests=80,
        canary_errors=1,
        stable_requests=720,
        stable_errors=6,
    )
    registry.add_step_result(deployment, later)
    registry.add_step_result(deployment, first)
    stored = registry.step_results(deployment)
    assert [s.step_index for s in stored] == [0, 1]
    assert stored[0] == StepResult(**{**_fields(first), "created_at": stored[0].created_at})
    assert stored[1].score == 91.5 and stored[1].canary_errors is None


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (StepResult(step_index=0, weight=101, verdict="pass"), "percentage"),
        (StepResult(step_index=0, weight=10, verdict="pass", score=math.nan), "finite"),
        (StepResult(step_index=0, weight=10, verdict="pass", canary_errors=-1), "negative"),
        (StepResult(step_index=0, weight=10, verdict=""), "verdict must not be empty"),
    ],
)
def test_invalid_step_results_are_refused(
    registry: Registry, deployment: str, result: StepResult, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.add_step_result(deployment, result)
    assert registry.step_results(deployment) == []


def test_check_results_round_trip(registry: Registry, deployment: str) -> None:
    checks = [
        CheckResultRecord(level=1, name="http", status="ok", duration_ms=3.5),
        CheckResultRecord(
            level=2,
            name="postgres",
            status="failed",
            duration_ms=2001.0,
            detail="timeout after 2 s",
            critical=False,
        ),
    ]
    registry.add_check_results(deployment, checks)
    stored = registry.check_results(deployment)
    assert [
        (c.level, c.name, c.status, c.ok, c.critical, c.duration_ms, c.detail) for c in stored
    ] == [
        (1, "http", "ok", True, True, 3.5, ""),
        (2, "postgres", "failed", False, False, 2001.0, "timeout after 2 s"),
    ]
    with pytest.raises(RegistryError, match="unknown status 'great'"):
        registry.add_check_results(deployment, [CheckResultRecord(1, "http", "great", 1.0)])


def test_results_go_with_their_deployment(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="no deployment"):
        registry.add_step_result(
            "00000000-0000-4000-8000-000000000000",
            StepResult(step_index=0, weight=5, verdict="pass"),
        )
    assert registry.check_results("00000000-0000-4000-8000-000000000000") == []


# -- baselines ---------------------------------------------------------------------------------


def _baseline(version: str, p95_ms: float, deployment_id: str | None = None) -> BaselineRecord:
    return BaselineRecord(
        environment="production",
        version=version,
        path="/health",
        sample_count=500,
        errors=1,
        error_rate=0.002,
        mean_ms=10.0,
        p50_ms=9.0,
        p95_ms=p95_ms,
        p99_ms=30.0,
        duration_s=10.0,
        deployment_id=deployment_id,
    )


def test_the_newest_baseline_of_an_environment_or_version(
    registry: Registry, deployment: str
) -> None:
    assert registry.baseline_for("production") is None
    registry.save_baseline(_baseline("v1", 20.0))
    registry.save_baseline(_baseline("v2", 25.0, deployment))
    registry.save_baseline(_baseline("v1", 21.0))
    newest = registry.baseline_for("production")
    assert newest is not None and (newest.version, newest.p95_ms) == ("v1", 21.0)
    of_v2 = registry.baseline_for("production", "v2")
    assert of_v2 is not None
    assert of_v2 == BaselineRecord(
        **{**_fields(_baseline("v2", 25.0, deployment)), "created_at": of_v2.created_at}
    )
    assert registry.baseline_for("staging") is None


def test_invalid_baselines_are_refused(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="error_rate must be within"):
        registry.save_baseline(
            BaselineRecord(**{**_fields(_baseline("v1", 1.0)), "error_rate": 2.0})
        )
    with pytest.raises(RegistryError, match="no deployment"):
        registry.save_baseline(_baseline("v1", 1.0, "00000000-0000-4000-8000-000000000000"))


def _fields(record: object) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]
