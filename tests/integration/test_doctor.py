"""safeship doctor: each check that can fail, failing, and a ready project passing (issue 11 §7)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship._processes import free_port
from safeship.doctor import Finding, diagnose
from safeship.pipeline import operations
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]

LOCAL = """\
[project]
name = "svc"

[environments.production]
port = {port}

[environments.production.target]
command = ["python", "-m", "http.server", "{{port}}"]
"""

RAILWAY = """\
[project]
name = "svc"

[environments.production.target]
type = "railway"
project_id = "p"
environment_id = "e"
service_id = "s"
token_env = "DOCTOR_TEST_RAILWAY_TOKEN"

[paths]
order = ["github-actions", "local"]

[paths.github-actions]
repo = "acme/svc"
token_env = "DOCTOR_TEST_GITHUB_TOKEN"
"""


def project(tmp_path: Path, text: str | None = None) -> Path:
    (tmp_path / "safeship.toml").write_text(text or LOCAL.format(port=free_port()))
    return tmp_path


def problems(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check and not f.ok]


def doctor_cli(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeship", "doctor", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_a_ready_project_passes_and_creates_nothing(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = doctor_cli(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready to deploy" in result.stdout
    assert "not created yet" in result.stdout
    assert sorted(p.name for p in root.iterdir()) == ["safeship.toml"]


def test_no_config_is_a_problem_with_a_fix(tmp_path: Path) -> None:
    result = doctor_cli(tmp_path)
    assert result.returncode == 1
    assert "safeship.toml not found" in result.stdout
    assert "safeship init" in result.stdout
    assert "Traceback" not in result.stderr


def test_an_invalid_config_names_file_and_line(tmp_path: Path) -> None:
    root = project(tmp_path, LOCAL.format(port=free_port()) + "\n[environments.production.x]\n")
    findings = diagnose(cwd=root)
    [config] = problems(findings, "config")
    assert "safeship.toml:" in config.detail
    assert "config check" in config.fix


def test_a_truncated_registry_is_a_problem(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".safeship").mkdir(mode=0o700)
    (root / ".safeship" / "registry.db").write_bytes(b"")
    [registry] = problems(diagnose(cwd=root), "registry")
    assert "is empty (0 bytes)" in registry.detail
    assert "backup" in registry.fix


def _registry_at(root: Path, revision: str) -> Path:
    path = root / ".safeship" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.create_deployment("production", "v1", None, "ci")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    return path


def test_a_registry_behind_the_code_needs_migrating(tmp_path: Path) -> None:
    root = project(tmp_path)
    _registry_at(root, "0001")
    [registry] = problems(diagnose(cwd=root), "registry")
    assert "at revision 0001, not the current" in registry.detail
    assert "migrates" in registry.fix


def test_a_registry_from_a_newer_safeship_is_a_problem(tmp_path: Path) -> None:
    root = project(tmp_path)
    _registry_at(root, "9999_future")
    [registry] = problems(diagnose(cwd=root), "registry")
    assert "9999_future" in registry.detail
    assert "upgrade safeship" in registry.fix


def test_an_unreachable_postgres_registry_is_a_problem(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    text = LOCAL.format(port=free_port()) + (
        f'\n[registry]\nurl = "postgresql://bob:hunter2@127.0.0.1:{port}/db?connect_timeout=2"\n'
    )
    root = project(tmp_path, text)
    result = doctor_cli(root)
    assert result.returncode == 1
    assert "registry" in result.stdout and "hunter2" not in result.stdout
    assert "***" in result.stdout


@pytest.mark.postgres
def test_clock_skew_against_a_postgres_registry(tmp_path: Path, postgres_url: str) -> None:
    text = LOCAL.format(port=free_port()) + f'\n[registry]\nurl = "{postgres_url}"\n'
    root = project(tmp_path, text)
    Registry(postgres_url).close()  # migrated
    findings = diagnose(cwd=root)
    assert [f.status for f in findings if f.check == "clock"] == ["ok"]
    assert [f.status for f in findings if f.check == "registry"] == ["ok"]

    def ahead() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=30)

    [clock] = problems(diagnose(cwd=root, clock=ahead), "clock")
    assert "ahead of the database" in clock.detail
    assert "ntp" in clock.fix


def test_a_port_in_use_by_another_process_is_a_problem(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        root = project(tmp_path, LOCAL.format(port=port))
        [finding] = problems(diagnose(cwd=root), "port")
    assert finding.subject == f"production: port {port}"
    assert "in use by another process" in finding.detail
    assert "choose another port" in finding.fix


def test_a_port_held_by_our_own_router_is_fine(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory()
    operations.up(ws.loaded, ENV)
    findings = diagnose(cwd=ws.root)
    [port] = [f for f in findings if f.check == "port"]
    assert port.ok and "held by this environment's router" in port.detail


def test_nginx_missing_from_path_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = LOCAL.format(port=free_port()).replace(
        "[environments.production]\n", '[environments.production]\nrouter = { type = "nginx" }\n'
    )
    root = project(tmp_path, text)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    [router] = problems(diagnose(cwd=root), "router")
    assert "no nginx binary" in router.detail
    assert "install nginx" in router.fix


def test_missing_tokens_are_named_and_present_ones_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, RAILWAY)
    secret = "ghp_" + "s3cr3tValueThatMustNeverBePrinted1234"
    env = {"DOCTOR_TEST_GITHUB_TOKEN": secret}
    monkeypatch.delenv("DOCTOR_TEST_RAILWAY_TOKEN", raising=False)
    result = doctor_cli(root, env=env)
    assert result.returncode == 1
    assert secret not in result.stdout + result.stderr
    findings = diagnose(cwd=root, environ=env)
    [missing] = problems(findings, "token")
    assert missing.subject == "$DOCTOR_TEST_RAILWAY_TOKEN"
    assert "environments.production.target (railway)" in missing.detail
    assert missing.fix.startswith("export DOCTOR_TEST_RAILWAY_TOKEN=")
    present = [f for f in findings if f.check == "token" and f.ok]
    assert [f.subject for f in present] == ["$DOCTOR_TEST_GITHUB_TOKEN"]
    json_out = doctor_cli(root, "--json", env=env)
    assert secret not in json_out.stdout


def test_loose_state_permissions_name_the_file(tmp_path: Path) -> None:
    root = project(tmp_path)
    state = root / ".safeship"
    state.mkdir(mode=0o700)
    log = state / "run" / "production" / "v1.log"
    log.parent.mkdir(parents=True, mode=0o700)
    (state / "run").chmod(0o700)
    log.write_text("DATABASE_URL=...\n")
    log.chmod(0o644)
    result = doctor_cli(root)
    assert result.returncode == 1
    findings = diagnose(cwd=root)
    [loose] = problems(findings, "permissions")
    assert loose.subject == ".safeship/run/production/v1.log"
    assert "mode 0644: world-accessible" in loose.detail
    assert loose.fix == "chmod 600 .safeship/run/production/v1.log"
    log.chmod(0o600)
    assert problems(diagnose(cwd=root), "permissions") == []
