"""safeship.core's env operations called directly: a temporary project, real files, a real
SQLite registry; no CLI process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeship import core
from safeship.envschema.problems import EnvSourceError

EXAMPLE = Path(__file__).parents[2] / "examples" / "env.schema.toml"
SECRET = "nextauth-0123456789abcdef0123456789abcdef"
VALID = {
    "NEXT_PUBLIC_API_BASE_URL": "https://example.com",
    "NEXT_PUBLIC_API_TIMEOUT": "5000",
    "NEXT_PUBLIC_ENVIRONMENT": "production",
    "NEXTAUTH_SECRET": SECRET,
    "DATABASE_URL": "postgresql://app:pw-5b1e2c9d7f@db/app",
    "OPENAI_API_KEY": "sk-0123456789abcdef",
    "NEXT_PUBLIC_GA_ID": "G-ABC123",
}


def dotenv(values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> core.EnvProject:
    """A project whose `production` is a local target carrying VALID (nothing runs)."""
    (tmp_path / "env.schema.toml").write_text(EXAMPLE.read_text())
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in VALID.items())
    (tmp_path / "safeship.toml").write_text(
        '[project]\nname = "t"\n\n[environments.production]\nport = 18190\n'
        "[environments.production.target]\n"
        'command = ["python", "-m", "http.server", "{port}"]\n'
        f"env = {{ {table} }}\n"
    )
    monkeypatch.chdir(tmp_path)  # the defaults: ./safeship.toml, ./.env
    return core.EnvProject()


def test_check_reads_the_default_dotenv_and_counts_the_schemas_variables(
    project: core.EnvProject, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(dotenv(VALID))
    report = core.env_check(project, "production", core.EnvSources())
    assert report.valid and report.variables == 9
    assert report.result.errors == []


def test_check_reports_every_problem_of_a_named_file(
    project: core.EnvProject, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text(dotenv({**VALID, "NEXT_PUBLIC_API_TIMEOUT": "soon"}).replace("OPENAI", "X"))
    report = core.env_check(project, "production", core.EnvSources(env_files=(bad,)))
    assert not report.valid
    assert [(p.code, p.variable) for p in report.result.errors] == [
        ("invalid_type", "NEXT_PUBLIC_API_TIMEOUT"),
        ("missing", "OPENAI_API_KEY"),
    ]
    assert [(p.code, p.variable) for p in report.result.warnings] == [
        ("unknown_variable", "X_API_KEY")
    ]


def test_check_without_any_source_is_a_usage_error(project: core.EnvProject) -> None:
    with pytest.raises(EnvSourceError, match=r"no \.env or \.env\.production here"):
        core.env_check(project, "production", core.EnvSources())


def test_snapshot_then_drift_then_audit_through_the_registry(
    project: core.EnvProject, tmp_path: Path
) -> None:
    drift = core.env_drift(project, "production", core.EnvSources())
    assert drift.snapshot is None and not drift.drifted  # the target's variables are valid

    taken = core.env_snapshot(project, "production", core.EnvSources(), taken_by="alice")
    assert taken.variables == len(VALID) and taken.secrets >= 2

    changed = tmp_path / "changed.env"
    changed.write_text(dotenv({**VALID, "NEXT_PUBLIC_GA_ID": "G-XYZ999"}))
    drift = core.env_drift(project, "production", core.EnvSources(env_files=(changed,)))
    assert drift.snapshot is not None and drift.snapshot.taken_by == "alice"
    assert drift.drifted
    assert [(c.kind, c.variable) for c in drift.since_snapshot] == [
        ("changed", "NEXT_PUBLIC_GA_ID")
    ]
    assert drift.as_json()["drift"] is True

    core.env_snapshot(project, "production", core.EnvSources(env_files=(changed,)), "bob")
    audit = core.env_audit(project, "production")
    assert [e.snapshot.taken_by for e in audit.entries] == ["alice", "bob"]
    assert audit.entries[0].first
    assert [c.variable for c in audit.entries[1].changes] == ["NEXT_PUBLIC_GA_ID"]
    # No secret value in anything a face would print.
    assert SECRET not in json.dumps(audit.as_json()) + json.dumps(drift.as_json())


def test_diff_compares_two_files_and_masks_secrets(
    project: core.EnvProject, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.env", tmp_path / "b.env"
    a.write_text(dotenv(VALID))
    b.write_text(dotenv({**VALID, "NEXTAUTH_SECRET": SECRET[::-1]}))
    result = core.env_diff(project, ("production", [a]), ("production", [b]))
    assert [d.variable for d in result.differences] == ["NEXTAUTH_SECRET"]
    assert SECRET not in json.dumps(result.as_json())


def test_from_process_needs_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no schema, no safeship.toml
    with pytest.raises(EnvSourceError, match="--from-process needs the schema"):
        core.env_snapshot(core.EnvProject(), "x", core.EnvSources(from_process=True))
