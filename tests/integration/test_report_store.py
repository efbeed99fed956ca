"""The artifact store on SQLite and PostgreSQL, the report assembled from a real registry, and
the report stored at the end of a real deployment that rolls back."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship import core
from safeship.core._reports import store_reports
from safeship.registry import Registry, RegistryError
from safeship.registry.artifacts import MAX_SIZE
from safeship.registry.records import CheckResultRecord, StepResult
from testing.fixtures import ENV, Workspace, make_workspace

WorkspaceFactory = Callable[..., Workspace]
SECRET = "s3cr3t-Value-that-must-never-show-9f8e7d"


class StepClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    with Registry(registry_url, clock=StepClock()) as reg:
        yield reg


def test_artifact_store_put_get_list_replace_delete_and_retention(registry: Registry) -> None:
    store = registry.artifacts
    one = registry.create_deployment(ENV, "v1", None, "ci")
    two = registry.create_deployment(ENV, "v2", None, "ci")
    content = bytes(range(256)) * 4  # binary, not only text
    first = store.put("report.md", "a.md", "text/markdown", content, deployment_id=one)
    assert first.size == 1024 and len(first.sha256) == 64 and first.deployment_id == one
    got = store.get(first.id)
    assert got is not None and got.content == content and got.info == first
    second = store.put("report.md", "b.md", "text/markdown", b"new", deployment_id=one)
    store.put("report.json", "b.json", "application/json", b"{}", deployment_id=one)
    store.put("report.md", "c.md", "text/markdown", b"two", deployment_id=two)
    latest = store.latest(one, "report.md")
    assert latest is not None and latest.info.id == second.id and latest.text() == "new"
    assert [a.name for a in store.list(deployment_id=one)] == ["b.json", "b.md", "a.md"]
    assert [a.name for a in store.list(kind="report.md")] == ["c.md", "b.md", "a.md"]
    # replace: one current artifact of a kind per deployment.
    store.put("report.md", "d.md", "text/markdown", b"again", deployment_id=one, replace=True)
    assert [a.name for a in store.list(deployment_id=one, kind="report.md")] == ["d.md"]
    # An artifact of no deployment (a backup, later), and retention by count.
    for n in range(3):
        store.put("backup", f"backup-{n}.sql", "application/sql", b"x" * n)
    assert store.keep_newest("backup", 1) == 2
    assert [a.name for a in store.list(kind="backup")] == ["backup-2.sql"]
    (backup,) = store.list(kind="backup")
    assert store.delete(backup.id) and not store.delete(backup.id)
    assert store.get(backup.id) is None and store.get("not-an-id") is None


def test_artifact_store_refuses_what_it_cannot_keep(registry: Registry) -> None:
    store = registry.artifacts
    with pytest.raises(RegistryError, match="over the 16777216-byte limit"):
        store.put("backup", "big.bin", "application/octet-stream", b"\0" * (MAX_SIZE + 1))
    with pytest.raises(RegistryError, match="no deployment"):
        store.put("report.md", "a.md", "text/markdown", b"x",
                  deployment_id="00000000-0000-4000-8000-000000000000")  # fmt: skip
    with pytest.raises(RegistryError, match="kind must not be empty"):
        store.put("", "a.md", "text/markdown", b"x")
    assert store.list() == []


def _rolled_back_deployment(registry: Registry) -> str:
    """v1 succeeded, then v2 canaried and rolled back, with every kind of record; the env
    changed in between (a secret among the changes)."""
    now = registry._now
    registry.add_env_snapshot(ENV, {
        "LOG_LEVEL": {"value": "info", "fingerprint": None, "secret": False},
        "API_KEY": {"value": None, "fingerprint": "fp-old", "secret": True},
        # Recorded in clear before the schema marked it secret: the schema wins.
        "DB_PASSWORD": {"value": "old-pw-111", "fingerprint": None, "secret": False},
    }, "ann")  # fmt: skip
    one = registry.create_deployment(ENV, "v1", None, "ci")
    registry.update_deployment(one, status="succeeded", completed=True)
    registry.add_env_snapshot(ENV, {
        "LOG_LEVEL": {"value": "debug", "fingerprint": None, "secret": False},
        "API_KEY": {"value": None, "fingerprint": "fp-new", "secret": True},
        "DB_PASSWORD": {"value": "new-pw-222", "fingerprint": None, "secret": False},
    }, "ann")  # fmt: skip
    two = registry.create_deployment(ENV, "v2", None, "bob", strategy="canary",
                                     stable_version="v1")  # fmt: skip
    document = {"environment": ENV, "version": "v2"}
    registry.add_event(two, "deployment.started", now(),
                       {**document, "attributes": {"strategy": "canary"}})  # fmt: skip
    registry.add_check_results(two, [CheckResultRecord(1, "health", "ok", 3.5, "200")])
    weights = {"step": 10, "weights": {"v2": 10, "v1": 90}}
    registry.add_event(two, "traffic.shifted", now(), {**document, "attributes": weights})
    registry.add_step_result(two, StepResult(
        0, 10, "fail", score=0.1, canary_error_rate=0.2, stable_error_rate=0.0,
        canary_latency_ms=20.0, stable_latency_ms=19.0, canary_requests=50,
        stable_requests=450, error_verdict="high", latency_verdict="pass",
    ))  # fmt: skip
    reason = f"error rate 20.0% over 50 requests exceeds the 5.0% threshold (key {SECRET})"
    registry.add_event(two, "rollback.triggered", now(), {**document, "attributes": {
        "step": 10, "rule": "error_rate", "reason": reason,
        "figures": {"error_rate": 0.2, "requests": 50},
    }})  # fmt: skip
    registry.update_deployment(two, status="rolled_back", rollback_reason=reason,
                               rollback_rule="error_rate", completed=True)  # fmt: skip
    return two


def test_the_record_from_a_real_registry(tmp_path: Path, registry_url: str) -> None:
    from safeship.redaction import register_secret

    register_secret(SECRET)  # as the pipeline does for the values it reads from a target
    ws = make_workspace(tmp_path, tables=f'[registry]\nurl = "{registry_url}"\n')
    (tmp_path / "env.schema.toml").write_text(
        "[local]\n"
        'LOG_LEVEL = { type = "string" }\n'
        'API_KEY = { type = "string", secret = true }\n'
        'DB_PASSWORD = { type = "string", secret = true }\n'
    )
    with Registry(ws.loaded.registry_url(), clock=StepClock()) as registry:
        two = _rolled_back_deployment(registry)
    detail = core.deployment_detail(ws.loaded, two[:8])
    assert detail.summary.id == two and detail.summary.status == "rolled_back"
    assert [e.name for e in detail.timeline] == [
        "deployment.started", "traffic.shifted", "rollback.triggered",
    ]  # fmt: skip
    assert detail.timeline[1].text == "traffic shifted: v2 10%, v1 90%"
    assert [(c.name, c.level, c.status) for c in detail.checks] == [("health", "basic", "ok")]
    (step,) = detail.steps
    assert (step.weight, step.canary_error_rate, step.stable_error_rate) == (10, 0.2, 0.0)
    assert [m.verdict for m in step.analysis.metrics] == ["high", "pass"]
    assert detail.rollback_rule == "error_rate"
    assert detail.rollback_figures == {"error_rate": 0.2, "requests": 50}
    assert detail.env_changes == (
        core.EnvChange("API_KEY", "changed", True, None, None),
        core.EnvChange("DB_PASSWORD", "changed", True, None, None),
        core.EnvChange("LOG_LEVEL", "changed", False, "info", "debug"),
    )
    assert detail.commits == ()
    assert detail.commits_note == "no commit was recorded with this deployment"
    assert detail.rollback_plan.previous_version == "v1"
    for fmt in ("md", "json", "html"):
        text = core.deployment_report(ws.loaded, two, fmt)
        assert SECRET not in text and "fp-new" not in text and "-pw-" not in text
    # Stored once; a second catch-up finds nothing missing.
    assert store_reports(ws.loaded, ENV) == 2
    assert store_reports(ws.loaded, ENV) == 0
    stored = core.stored_report(ws.loaded, two, "json")
    assert stored is not None and stored.name.endswith(f"-{two[:8]}.json")
    assert json.loads(stored.text)["rollback_figures"] == {"error_rate": 0.2, "requests": 50}
    # `safeship rollback` marks the deployment it reverts: its report is stored again.
    (one,) = [r.id for r in core.history(ws.loaded, core.HistoryQuery(ENV)) if r.version == "v1"]
    with Registry(ws.loaded.registry_url()) as registry:
        registry.update_deployment(one, status="rolled_back", rollback_reason="by hand")
    assert store_reports(ws.loaded, ENV, also=[one]) == 1
    again = core.stored_report(ws.loaded, one, "json")
    assert again is not None and json.loads(again.text)["summary"]["status"] == "rolled_back"
    with pytest.raises(core.UsageError, match="no deployment 'abcdef12'"):
        core.deployment_detail(ws.loaded, "abcdef12")


def test_a_report_that_cannot_be_stored_is_one_warning_line(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, tables='[registry]\nurl = "postgresql://u:pw-9z@127.0.0.1:1/x"\n')
    errors = io.StringIO()
    assert store_reports(ws.loaded, ENV, errors=errors) == 0
    (line,) = errors.getvalue().splitlines()
    assert line.startswith("safeship: warning: the deployment reports of local were not stored")
    assert "pw-9z" not in line


def test_a_real_deploy_that_rolls_back_stores_its_report(
    workspace_factory: WorkspaceFactory,
) -> None:
    # The one real deployment of these tests (about 4 s, most of it the first deploy's router
    # and registry): the cheapest real rollback, v2 killed while it serves its first canary
    # step (the process_exit rule), with no load to generate.
    ws = workspace_factory(bake_time=0.5)
    first = core.deploy(ws.loaded, core.DeployRequest(ENV, "v1"))
    assert first.ok
    killed: list[int] = []

    def kill_canary(s: core.LiveSnapshot) -> None:
        if s.status.value == "progressing" and s.step == 10 and not killed:
            (canary,) = [r for r in ws.environment().target.releases() if r.version == "v2"]
            assert canary.pid is not None
            os.kill(canary.pid, signal.SIGKILL)
            killed.append(canary.pid)

    second = core.deploy(
        ws.loaded, core.DeployRequest(ENV, "v2", commit="c0ffee1"), on_progress=kill_canary
    )
    assert second.status == "rolled_back" and second.deployment_id is not None
    stored = core.stored_report(ws.loaded, second.deployment_id, "json")
    assert stored is not None
    document = json.loads(stored.text)
    assert document["summary"]["status"] == "rolled_back"
    assert document["rollback_rule"] == "process_exit"
    assert document["rollback_reason"] == "release v2 exited while serving traffic"
    assert document["rollback_figures"] == {"pid": killed[0]}
    names = [entry["name"] for entry in document["timeline"]]
    assert names[0] == "deployment.started" and "rollback.triggered" in names
    assert document["rollback_plan"]["previous_version"] == "v1"
    markdown = core.stored_report(ws.loaded, second.deployment_id, "md")
    assert markdown is not None and "rolled back by the rule **process\\_exit**" in markdown.text
    # The first deployment got its report at its own end too.
    assert first.deployment_id is not None
    assert core.stored_report(ws.loaded, first.deployment_id, "md") is not None
