"""The analytics on a seeded registry, SQLite and PostgreSQL alike (each test taking
``registry_url`` runs on both and expects the same figures), and lead time from a real git
repository made in tmp_path."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship import core
from safeship.analytics import leadtime
from safeship.config import LoadedConfig, load_config
from safeship.registry import Registry
from safeship.registry.analytics_queries import PrepushVerdict
from safeship.registry.records import BaselineRecord, StepResult

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
UNTIL = T0 + timedelta(days=30)

CONFIG = """\
[registry]
url = "{url}"

[environments.production]
port = {port}
[environments.production.target]
command = ["python", "-m", "app"]

[environments.staging]
port = {staging_port}
[environments.staging.target]
command = ["python", "-m", "app"]
"""


class Clock:
    """The registry's clock, set by the test (each write is stamped at ``now``)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def write_config(root: Path, url: str) -> LoadedConfig:
    path = root / "safeship.toml"
    path.write_text(CONFIG.format(url=url, port=18_501, staging_port=18_502), encoding="utf-8")
    return load_config(path)


def deploy(
    registry: Registry,
    clock: Clock,
    environment: str,
    status: str,
    at: timedelta,
    minutes: float,
    *,
    rule: str | None = None,
    commit: str | None = None,
    path: str | None = None,
    version: str = "v1",
) -> str:
    clock.now = T0 + at
    deployment = registry.create_deployment(environment, version, commit, "ci", path=path)
    if rule is not None:
        registry.add_event(deployment, "rollback.triggered", clock.now + timedelta(minutes=1), {})
    clock.now += timedelta(minutes=minutes)
    registry.update_deployment(deployment, status=status, completed=True, rollback_rule=rule)
    return deployment


def seed(registry: Registry, clock: Clock) -> dict[str, str]:
    hour = timedelta(hours=1)
    ids = {
        "before": deploy(registry, clock, "production", "rolled_back", -hour, 5, rule="latency"),
        "p1": deploy(registry, clock, "production", "succeeded", hour, 10, path="circleci"),
        "p2": deploy(registry, clock, "production", "rolled_back", 2 * hour, 4, rule="error_rate"),
        "p3": deploy(registry, clock, "production", "succeeded", 4 * hour, 20, version="v2"),
        "p4": deploy(registry, clock, "production", "failed", 48 * hour, 2),
        "s1": deploy(registry, clock, "staging", "failed", 3 * hour, 1),
        "s2": deploy(registry, clock, "staging", "succeeded", 5 * hour, 6),
        "s3": deploy(registry, clock, "staging", "aborted", 6 * hour, 1),
        "after": deploy(registry, clock, "production", "succeeded", 31 * 24 * hour, 10),
    }
    clock.now = T0 + 2 * hour
    registry.mark_deployment(ids["p2"], "false-alarm", "alice", "a noisy neighbour")
    registry.mark_deployment(ids["before"], "false-alarm", "alice")  # outside the period
    step = StepResult(0, 10, "continue", canary_latency_ms=40.0, stable_latency_ms=30.0)
    registry.add_step_result(ids["p1"], step)
    registry.add_step_result(ids["p3"], StepResult(0, 10, "continue", canary_latency_ms=60.0))
    registry.add_step_result(ids["p3"], StepResult(1, 50, "continue", canary_latency_ms=80.0))
    registry.save_baseline(
        BaselineRecord("production", "v1", "/", 100, 0, 0.0, 20.0, 18.0, 55.0, 70.0,
                       deployment_id=ids["p1"])
    )  # fmt: skip
    for run, conclusion, seconds in (("1", "success", 600), ("2", "failed", 300)):
        registry.record_ci_run(
            path="circleci", run_id=run, environment="production", version="v1",
            started_at=T0, completed_at=T0 + timedelta(seconds=seconds), conclusion=conclusion,
        )  # fmt: skip
    # The same run ending again (a re-followed run): updated, not counted twice.
    registry.record_ci_run(
        path="circleci", run_id="2", environment="production", version="v1",
        started_at=T0, completed_at=T0 + timedelta(seconds=240), conclusion="failed",
    )  # fmt: skip
    pushes: list[tuple[PrepushVerdict, float]] = [("blocked", 4.0), ("passed", 2.0)]
    for verdict, took in pushes:
        registry.add_prepush_run(
            ran_at=T0 + hour, repository="app", branch="main", commit_sha=None,
            verdict=verdict, duration_seconds=took,
            failed_checks=["secrets"] if verdict == "blocked" else [],
        )  # fmt: skip
    return ids


def test_the_figures_of_a_seeded_registry(registry_url: str, tmp_path: Path) -> None:
    clock = Clock()
    with Registry(registry_url, clock=clock) as registry:
        ids = seed(registry, clock)
        facts = registry.analytics_facts(None, T0, UNTIL)
    assert [d.id for d in facts.deployments] == [
        ids[k] for k in ("p1", "p2", "s1", "p3", "s2", "s3", "p4")
    ]
    assert facts.before["production"].id == ids["before"]
    assert facts.recovered_after["production"].id == ids["after"]
    assert facts.false_alarms == {ids["p2"]}
    assert set(facts.rollback_triggered) == {ids["p2"]}

    loaded = write_config(tmp_path, registry_url)
    report = core.analytics(loaded, core.AnalyticsQuery(None, timedelta(days=30), UNTIL))
    figures = {m.name: m.value for m in (*report.dora, *report.success)}
    assert figures["deployment_frequency"] == pytest.approx(4 / 30)
    assert report.measure("deployment_frequency").band == "medium"
    assert figures["change_fail_rate"] == pytest.approx(0.5)
    # p2 (2 h) recovered by p3 (4 h + 20 min), s1 (3 h) by s2 (5 h + 6 min), p4 by the
    # deployment after the period.
    recovery = [p.value for p in report.series["recovery_minutes"]]
    assert recovery == [140.0, 126.0, pytest.approx((31 * 24 - 48) * 60 + 10)]
    assert report.measure("failed_deployment_recovery_time").value == pytest.approx(
        ((140.0 + (31 * 24 - 48) * 60 + 10) / 2) / 60
    )
    assert figures["deployment_rework_rate"] == pytest.approx(2 / 4)  # p1 (after before), p3
    assert figures["change_lead_time"] is None  # no commits recorded
    assert figures["success_rate"] == pytest.approx(3 / 6)  # the aborted one is not counted
    assert figures["mean_time_to_recovery"] == pytest.approx(3.0)  # triggered at +1, done at +4
    assert figures["caught_before_production"] == pytest.approx(1 / 3)
    assert figures["time_to_deploy_staging"] == pytest.approx(6.0)
    assert figures["time_to_deploy_production"] == pytest.approx(15.0)
    assert figures["rollback_false_positive_rate"] == pytest.approx(1.0)
    assert figures["prepush_blocked_pushes"] == 1.0
    assert figures["prepush_time_saved"] == 15.0
    assert figures["ci_cost_per_deployment"] == pytest.approx(14 * 0.006 / 6)
    assert figures["ci_wasted_minutes"] == pytest.approx(4.0)
    by_rule = [(p.label, p.value) for p in report.series["rollbacks_by_rule"]]
    assert by_rule == [("error_rate", 1.0)]
    latency = [(p.label, p.value, dict(p.extra)) for p in report.series["latency_p95_by_version"]]
    assert latency == [
        ("v1", 55.0, {"baseline_mean_ms": 20.0, "canary_mean_ms": 40.0}),
        ("v2", None, {"canary_mean_ms": 70.0}),
    ]
    failures = {p.label: p.value for p in report.series["failures_by_path"]}
    assert failures == {"local": 3.0}

    staging = core.analytics(loaded, core.AnalyticsQuery("staging", timedelta(days=30), UNTIL))
    assert staging.measure("deployment_frequency").detail == "2 deployments in 30 days"
    assert staging.measure("ci_cost_per_deployment").value is None  # no staging CI runs
    assert staging.measure("caught_before_production").value == pytest.approx(1 / 3)


def test_an_empty_registry_gives_no_data_not_zeros(registry_url: str, tmp_path: Path) -> None:
    loaded = write_config(tmp_path, registry_url)
    report = core.analytics(loaded, core.AnalyticsQuery(until=UNTIL))
    assert all(m.value is None for m in report.success)
    assert report.measure("change_fail_rate").value is None
    assert all(len(report.series[name]) == 0 for name in ("duration_seconds", "recovery_minutes"))


def test_marking_a_deployment_a_false_alarm_and_clearing_it(
    registry_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    loaded = write_config(tmp_path, registry_url)
    with Registry(registry_url, clock=clock) as registry:
        rolled = deploy(registry, clock, "production", "rolled_back", timedelta(0), 3, rule="x")
        fine = deploy(registry, clock, "production", "succeeded", timedelta(hours=1), 3)
    done = core.mark_deployment(loaded, rolled[:8], "false-alarm", by="bob", reason="flaky")
    assert (done.marked, done.changed, done.marked_by, done.reason) == (True, True, "bob", "flaky")
    again = core.mark_deployment(loaded, rolled, "false-alarm", by="carol")
    assert (again.changed, again.marked_by) == (False, "bob")
    cleared = core.mark_deployment(loaded, rolled, "false-alarm", by=None, clear=True)
    assert (cleared.marked, cleared.changed) == (False, True)
    with Registry(registry_url) as registry:
        assert registry.deployment_marks(rolled) == []
    with pytest.raises(core.UsageError, match="only a rolled-back deployment"):
        core.mark_deployment(loaded, fine, "false-alarm", by="bob")
    with pytest.raises(core.UsageError, match="no deployment 'abcdef12'"):
        core.mark_deployment(loaded, "abcdef12", "false-alarm", by="bob")
    with pytest.raises(core.UsageError, match="unknown mark"):
        core.mark_deployment(loaded, rolled, "great", by="bob")


def git(repo: Path, *args: str, when: datetime | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    if when is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = when.isoformat()
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, name: str, when: datetime) -> str:
    (repo / name).write_text(name, encoding="utf-8")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", name, when=when)
    return git(repo, "rev-parse", "HEAD")


def test_lead_time_from_the_commits_each_production_deploy_shipped(
    registry_url: str, tmp_path: Path
) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    hour = timedelta(hours=1)
    old = commit(tmp_path, "a", T0 - 100 * hour)  # shipped before the period
    b = commit(tmp_path, "b", T0 - 10 * hour)
    c = commit(tmp_path, "c", T0 - 2 * hour)
    d = commit(tmp_path, "d", T0 + 20 * hour)
    clock = Clock()
    with Registry(registry_url, clock=clock) as registry:
        deploy(registry, clock, "production", "succeeded", -50 * hour, 0, commit=old)
        # Ships b and c: done at T0 + 1 h: 11 h and 3 h.
        deploy(registry, clock, "production", "succeeded", hour, 0, commit=c)
        deploy(registry, clock, "production", "rolled_back", 22 * hour, 0, commit=d, rule="x")
        # Ships d (the rolled-back deploy shipped nothing): done at T0 + 30 h: 10 h.
        deploy(registry, clock, "production", "succeeded", 30 * hour, 0, commit=d)
        # A version that is no commit git knows: skipped, said in the detail.
        deploy(registry, clock, "production", "succeeded", 40 * hour, 0, commit="f" * 40)
    loaded = write_config(tmp_path, registry_url)
    report = core.analytics(loaded, core.AnalyticsQuery(until=UNTIL))
    lead = report.measure("change_lead_time")
    assert lead.value == pytest.approx(10.0)  # the median of 11, 3 and 10 hours
    assert lead.band == "elite"
    assert lead.detail == (
        "3 commits shipped by 2 succeeded deployments; 1 without a commit git knows"
    )
    shipped = leadtime.commits_between(tmp_path, old, d)
    assert [s.sha for s in shipped] == [d, c, b]
    assert shipped[0].at == T0 + 20 * hour
    assert len(leadtime.commits_between(tmp_path, None, d, limit=2)) == 2
    with pytest.raises(leadtime.GitUnavailable):
        leadtime.commits_between(tmp_path, None, "not-a-sha")
