"""The analytics' pure computations on hand-built rows: every measure, every band boundary,
empty periods (None, never a made-up 0), and the report's JSON and CSV shapes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from safeship import core
from safeship.analytics import bands, dora, patterns, success
from safeship.analytics.compute import NO_REPOSITORY, Scope, build_report, scope
from safeship.analytics.dora import Period
from safeship.analytics.records import SERIES_NAMES, AnalyticsReport, Measure
from safeship.analytics.settings import AnalyticsSettings
from safeship.registry.analytics_queries import (
    AnalyticsFacts,
    CiRunTotals,
    DeploymentFacts,
    PrepushTotals,
    VersionLatency,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
PERIOD = Period(T0, T0 + timedelta(days=30))
_ids = itertools.count(1)


def deployment(
    status: str,
    *,
    at: timedelta = timedelta(0),
    minutes: float = 10.0,
    environment: str = "production",
    rule: str | None = None,
    path: str | None = None,
    by: str = "ci",
    version: str = "v1",
    commit: str | None = None,
) -> DeploymentFacts:
    started = T0 + at
    return DeploymentFacts(
        id=f"00000000-0000-4000-8000-{next(_ids):012d}",
        environment=environment,
        version=version,
        commit_sha=commit,
        triggered_by=by,
        status=status,
        started_at=started,
        completed_at=started + timedelta(minutes=minutes) if status != "progressing" else None,
        path=path,
        rollback_rule=rule,
    )


def days(n: float) -> timedelta:
    return timedelta(days=n)


def facts(
    deployments: Sequence[DeploymentFacts] = (),
    **changes: object,
) -> AnalyticsFacts:
    base: dict[str, object] = {
        "deployments": tuple(deployments),
        "before": {},
        "succeeded_before": {},
        "recovered_after": {},
        "rollback_triggered": {},
        "false_alarms": frozenset(),
        "ci_runs": (),
        "prepush": (),
        "latency": (),
    }
    base.update(changes)
    return AnalyticsFacts(**base)  # type: ignore[arg-type]


def measures_of(
    rows: Sequence[DeploymentFacts],
    *,
    before: Mapping[str, DeploymentFacts] | None = None,
    lead: Sequence[float] | None = None,
) -> dict[str, Measure]:
    found = dora.dora_measures(
        rows,
        PERIOD,
        before=before or {},
        recovered_after={},
        lead_time_hours=lead,
        lead_time_detail="",
    )
    return {m.name: m for m in found}


# -- bands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_day", "band"),
    [
        (5.0, "elite"),
        (1.0, "elite"),
        (0.99, "high"),
        (1 / 7, "high"),
        (1 / 7 - 1e-9, "medium"),
        (1 / 30, "medium"),
        (1 / 30 - 1e-9, "low"),
        (0.0, "low"),
        (None, None),
    ],
)
def test_frequency_bands_take_the_better_level_on_a_boundary(
    per_day: float | None, band: str | None
) -> None:
    assert bands.frequency_band(per_day) == band


@pytest.mark.parametrize(
    ("hours", "band"),
    [
        (0.0, "elite"),
        (23.99, "elite"),
        (24.0, "high"),
        (167.99, "high"),
        (168.0, "medium"),
        (719.99, "medium"),
        (720.0, "low"),
        (None, None),
    ],
)
def test_lead_time_bands(hours: float | None, band: str | None) -> None:
    assert bands.lead_time_band(hours) == band


@pytest.mark.parametrize(
    ("hours", "band"),
    [(0.5, "elite"), (1.0, "high"), (23.9, "high"), (24.0, "medium"), (167.9, "medium"),
     (168.0, "low"), (None, None)],
)  # fmt: skip
def test_recovery_bands(hours: float | None, band: str | None) -> None:
    assert bands.recovery_band(hours) == band


@pytest.mark.parametrize(
    ("ratio", "band"),
    [(0.0, "elite"), (0.05, "elite"), (0.0501, "high"), (0.10, "high"), (0.1001, "medium"),
     (0.15, "medium"), (0.1501, "low"), (1.0, "low"), (None, None)],
)  # fmt: skip
def test_change_fail_bands(ratio: float | None, band: str | None) -> None:
    assert bands.change_fail_band(ratio) == band


# -- DORA -------------------------------------------------------------------------------------


def test_an_empty_period_has_no_ratio_nor_time_and_zero_frequency() -> None:
    found = measures_of([])
    assert found["deployment_frequency"].value == 0.0
    assert found["deployment_frequency"].band == "low"
    for name in ("change_lead_time", "change_fail_rate", "failed_deployment_recovery_time",
                 "deployment_rework_rate"):  # fmt: skip
        assert found[name].value is None, name
        assert found[name].band is None, name


def test_frequency_counts_finished_deployments_but_not_aborted_nor_running_ones() -> None:
    rows = [deployment("succeeded", at=days(n)) for n in range(30)]
    rows += [deployment("aborted", at=days(1)), deployment("progressing", at=days(2))]
    rows += [deployment("failed", at=days(3)), deployment("rolled_back", at=days(4))]
    found = measures_of(rows)
    frequency = found["deployment_frequency"]
    assert frequency.value == pytest.approx(32 / 30)
    assert frequency.band == "elite"
    assert frequency.detail == "32 deployments in 30 days"


def test_change_fail_rate_counts_rolled_back_and_failed_over_finished() -> None:
    rows = [deployment("succeeded", at=days(n)) for n in range(8)]
    rows += [deployment("rolled_back", at=days(9)), deployment("failed", at=days(10))]
    rows += [deployment("aborted", at=days(11))]
    fail = measures_of(rows)["change_fail_rate"]
    assert fail.value == pytest.approx(0.2)
    assert fail.band == "low"
    assert fail.detail == "2 of 10 deployments failed or rolled back"


def test_recovery_is_from_the_failure_to_the_next_success_of_its_environment() -> None:
    failed = deployment("rolled_back", at=days(1))
    other_env = deployment("succeeded", at=days(1) + timedelta(minutes=5), environment="eu")
    fixed = deployment("succeeded", at=days(1) + timedelta(minutes=50), minutes=10)
    found = measures_of([failed, other_env, fixed])
    recovery = found["failed_deployment_recovery_time"]
    assert recovery.value == pytest.approx(1.0)  # 60 minutes
    assert recovery.band == "high"  # exactly one hour is not under one hour


def test_consecutive_failures_each_recover_at_the_next_success_and_open_ones_are_counted() -> None:
    first = deployment("failed", at=days(1))
    second = deployment("rolled_back", at=days(1) + timedelta(minutes=20))
    fixed = deployment("succeeded", at=days(1) + timedelta(minutes=30), minutes=0)
    still = deployment("failed", at=days(5))
    recovered, open_failures = dora.recoveries([first, second, fixed, still], {})
    assert [(r.failed.id, r.minutes) for r in recovered] == [(first.id, 30.0), (second.id, 10.0)]
    assert open_failures == 1
    detail = measures_of([first, second, fixed, still])["failed_deployment_recovery_time"]
    assert "1 not recovered yet" in detail.detail


def test_a_failure_at_the_end_recovers_with_the_first_success_after_the_period() -> None:
    failed = deployment("rolled_back", at=days(29))
    later = deployment("succeeded", at=days(30) + timedelta(hours=2), minutes=0)
    recovered, open_failures = dora.recoveries([failed], {"production": later})
    assert [r.minutes for r in recovered] == [pytest.approx(26 * 60)]
    assert open_failures == 0


def test_rework_is_a_deployment_that_follows_a_failed_one_in_its_environment() -> None:
    before = deployment("failed", at=days(-1))
    rows = [
        deployment("succeeded", at=days(1)),  # after the failure before the period: rework
        deployment("rolled_back", at=days(2)),
        deployment("aborted", at=days(2.5)),  # not a deployment: the next one still follows
        deployment("succeeded", at=days(3)),  # rework
        deployment("succeeded", at=days(4), environment="eu"),  # another environment's
        deployment("succeeded", at=days(5)),
    ]
    reworked = dora.rework(rows, {"production": before})
    assert [d.started_at for d in reworked] == [T0 + days(1), T0 + days(3)]
    rate = measures_of(rows, before={"production": before})["deployment_rework_rate"]
    assert rate.value == pytest.approx(2 / 5)
    assert rate.band is None


def test_lead_time_is_the_median_of_the_commits_hours() -> None:
    found = measures_of([], lead=[1.0, 30.0, 200.0])
    assert found["change_lead_time"].value == 30.0
    assert found["change_lead_time"].band == "high"


# -- §9 success metrics -----------------------------------------------------------------------


def test_success_rate_and_mean_time_to_recovery() -> None:
    rolled = deployment("rolled_back", at=days(1), minutes=12, rule="error_rate")
    no_event = deployment("rolled_back", at=days(2), minutes=12, rule="latency")
    rows = [deployment("succeeded"), deployment("succeeded", at=days(3)), rolled, no_event,
            deployment("aborted", at=days(4))]  # fmt: skip
    rate = success.success_rate(rows)
    assert rate.value == pytest.approx(0.5)
    assert rate.detail == "2 of 4 deployments succeeded"
    triggered = {rolled.id: rolled.started_at + timedelta(minutes=9)}
    mttr = success.mean_time_to_recovery(rows, triggered)
    assert mttr.value == pytest.approx(3.0)
    assert mttr.unit == "minutes"
    assert success.mean_time_to_recovery(rows, {}).value is None


def test_caught_before_production_is_staging_failures_over_all_failures() -> None:
    staging = [deployment("failed", environment="staging"),
               deployment("rolled_back", environment="staging"),
               deployment("succeeded", environment="staging")]  # fmt: skip
    production = [deployment("rolled_back"), deployment("succeeded")]
    caught = success.caught_before_production(staging, production)
    assert caught.value == pytest.approx(2 / 3)
    assert success.caught_before_production([], [deployment("succeeded")]).value is None


def test_time_to_deploy_is_the_median_of_succeeded_deployments() -> None:
    rows = [deployment("succeeded", minutes=m) for m in (4, 6, 30)]
    rows.append(deployment("rolled_back", minutes=1))
    measure = success.time_to_deploy(rows, "time_to_deploy_staging", "staging")
    assert (measure.value, measure.unit) == (6.0, "minutes")
    assert success.time_to_deploy([], "time_to_deploy_staging", "staging").value is None


def test_false_positive_rate_counts_only_automatic_rollbacks() -> None:
    marked = deployment("rolled_back", rule="error_rate")
    rows = [marked, deployment("rolled_back", rule="latency"),
            deployment("rolled_back", rule="manual"), deployment("rolled_back")]  # fmt: skip
    rate = success.false_positive_rate(rows, {marked.id, rows[2].id})
    assert rate.value == pytest.approx(0.5)
    assert rate.detail == "1 of 2 automatic rollbacks marked false-alarm"
    assert success.false_positive_rate([deployment("succeeded")], set()).value is None


def test_prepush_measures_count_blocked_pushes_and_the_minutes_they_saved() -> None:
    runs = [PrepushTotals("blocked", 4, 12.0), PrepushTotals("passed", 20, 60.0)]
    blocked, saved = success.prepush_measures(runs, Period(T0, T0 + days(14)), 15.0)
    assert (blocked.value, blocked.unit) == (4.0, "count")
    assert (saved.value, saved.unit) == (60.0, "minutes")
    assert "(30 a week)" in saved.detail
    nothing = success.prepush_measures([], PERIOD, 15.0)
    assert [m.value for m in nothing] == [None, None]


def test_ci_cost_per_deployment_and_wasted_minutes_use_each_paths_price() -> None:
    runs = [
        CiRunTotals("production", "github-actions", "success", 3, 600.0, 3),
        CiRunTotals("production", "github-actions", "failure", 1, 300.0, 1),
        CiRunTotals("production", "circleci", "failed", 1, 120.0, 1),
    ]
    prices = {"github-actions": 0.008, "circleci": 0.006}
    rows = [deployment("succeeded"), deployment("succeeded"), deployment("rolled_back")]
    cost, wasted = success.ci_measures(runs, rows, prices)
    assert cost.value == pytest.approx((15 * 0.008 + 2 * 0.006) / 3)
    assert cost.unit == "usd"
    assert wasted.value == pytest.approx(7.0)
    assert "41% of 17" in wasted.detail
    no_runs = success.ci_measures([], rows, prices)
    assert [m.value for m in no_runs] == [None, None]
    untimed = success.ci_measures([CiRunTotals("p", "circleci", "success", 2, 0.0, 0)], rows, {})
    assert [m.value for m in untimed] == [None, None]


# -- series -----------------------------------------------------------------------------------


def test_per_day_series_have_every_day_of_the_period() -> None:
    rows = [deployment("succeeded", at=timedelta(hours=1)),
            deployment("rolled_back", at=timedelta(hours=2)),
            deployment("aborted", at=timedelta(hours=3)),
            deployment("succeeded", at=days(2))]  # fmt: skip
    period = Period(T0, T0 + days(3))
    counts, rates = patterns.per_day(rows, period)
    assert [p.label for p in counts] == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    assert [p.value for p in counts] == [3.0, 0.0, 1.0, 0.0]
    assert counts[0].extra == {"succeeded": 1.0, "failed": 0.0, "rolled_back": 1.0}
    assert [p.value for p in rates] == [0.5, None, 1.0, None]


def test_failure_patterns_by_path_hour_weekday_and_trigger() -> None:
    rows = [
        deployment("failed", at=timedelta(hours=5), path="circleci", by="alice"),  # Mon 14:00
        deployment("rolled_back", at=days(1), rule="latency", by="alice"),  # Tue 09:00
        deployment("rolled_back", at=days(8), rule="latency", by="bob"),  # Tue 09:00
        deployment("succeeded", at=days(2)),
    ]
    found = patterns.failure_patterns(rows)
    assert [(p.label, p.value) for p in found["failures_by_path"]] == [
        ("local", 2.0),
        ("circleci", 1.0),
    ]
    hours = {p.label: p.value for p in found["failures_by_hour"]}
    assert len(hours) == 24
    assert (hours["09"], hours["14"], hours["00"]) == (2.0, 1.0, 0.0)
    weekdays = [(p.label, p.value) for p in found["failures_by_weekday"]]
    assert weekdays[:3] == [("Monday", 1.0), ("Tuesday", 2.0), ("Wednesday", 0.0)]
    assert [(p.label, p.value) for p in found["failures_by_trigger"]] == [
        ("alice", 2.0),
        ("bob", 1.0),
    ]
    by_rule = patterns.rollbacks_by_rule([*rows, deployment("rolled_back")])
    assert [(p.label, p.value) for p in by_rule] == [("latency", 2.0), ("unknown", 1.0)]


def test_latency_by_version_names_the_environment_only_when_there_are_several() -> None:
    one = [VersionLatency("production", "v1", T0, 120.0, 80.0, None),
           VersionLatency("production", "v2", T0 + days(1), None, None, 95.0)]  # fmt: skip
    points = patterns.latency_by_version(one)
    assert [(p.label, p.value, dict(p.extra)) for p in points] == [
        ("v1", 120.0, {"baseline_mean_ms": 80.0}),
        ("v2", None, {"canary_mean_ms": 95.0}),
    ]
    two = [*one, VersionLatency("staging", "v2", T0, 50.0, None, None)]
    assert [p.label for p in patterns.latency_by_version(two)][-1] == "staging/v2"


# -- the report -------------------------------------------------------------------------------


def report_of(rows: Sequence[DeploymentFacts], environment: str | None = None) -> AnalyticsReport:
    settings = AnalyticsSettings()
    which: Scope = scope(settings, ["production"], environment)
    return build_report(facts(rows), which, PERIOD.since, PERIOD.until, settings, repo=None)


def test_an_empty_report_has_every_measure_and_series() -> None:
    report = report_of([])
    data = report.as_json()
    assert set(data) == {"environment", "since", "until", "dora_environments", "dora",
                         "success", "series"}  # fmt: skip
    assert data["since"] == "2026-11-02T09:00:00Z"
    assert [m["name"] for m in data["dora"]] == [
        "deployment_frequency",
        "change_lead_time",
        "change_fail_rate",
        "failed_deployment_recovery_time",
        "deployment_rework_rate",
    ]
    assert [m["name"] for m in data["success"]] == [
        "success_rate",
        "mean_time_to_recovery",
        "caught_before_production",
        "time_to_deploy_staging",
        "time_to_deploy_production",
        "rollback_false_positive_rate",
        "prepush_blocked_pushes",
        "prepush_time_saved",
        "ci_cost_per_deployment",
        "ci_wasted_minutes",
    ]
    assert list(data["series"]) == list(SERIES_NAMES)
    assert all(m["value"] is None for m in data["success"])
    assert data["series"]["duration_seconds"] == []
    assert len(data["series"]["deployments_per_day"]) == 31  # 09:00 to 09:00: 31 UTC days


def test_the_report_scopes_dora_to_production_and_success_to_its_environment() -> None:
    rows = [deployment("succeeded", environment="staging"),
            deployment("failed", environment="staging", at=days(1)),
            deployment("succeeded", at=days(2)),
            deployment("rolled_back", at=days(3))]  # fmt: skip
    everything = report_of(rows)
    assert everything.dora_environments == ("production",)
    assert everything.measure("change_fail_rate").value == pytest.approx(0.5)
    assert everything.measure("success_rate").value == pytest.approx(0.5)
    assert everything.measure("caught_before_production").value == pytest.approx(0.5)
    staging = report_of(rows, "staging")
    assert staging.dora_environments == ("staging",)
    assert staging.measure("deployment_frequency").detail == "2 deployments in 30 days"
    assert staging.measure("caught_before_production").value == pytest.approx(0.5)
    assert len(staging.series["duration_seconds"]) == 2


def test_csv_rows_give_each_measure_with_an_empty_value_for_no_data() -> None:
    rows = report_of([deployment("succeeded")]).csv_rows()
    assert len(rows) == 15
    first = rows[0]
    assert first["group"] == "dora"
    assert first["name"] == "deployment_frequency"
    assert first["value"] == "0.0333333"
    lead = next(r for r in rows if r["name"] == "change_lead_time")
    assert (lead["value"], lead["band"]) == ("", "")
    assert lead["detail"] == NO_REPOSITORY


def test_period_describes_days_and_hours() -> None:
    assert PERIOD.describe() == "30 days"
    assert Period(T0, T0 + timedelta(hours=12)).describe() == "12 h"


@pytest.mark.parametrize(
    ("text", "period"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2)),
     ("1d12h", timedelta(hours=36)), (" 90d ", timedelta(days=90))],
)  # fmt: skip
def test_periods_are_durations_and_weeks(text: str, period: timedelta) -> None:
    assert core.parse_period(text) == period


@pytest.mark.parametrize("text", ["", "3x", "30", "-2d", "1e3d", "9" * 30 + "d"])
def test_a_period_that_is_none_is_a_usage_error(text: str) -> None:
    with pytest.raises(core.UsageError, match="--since: "):
        core.parse_period(text)
