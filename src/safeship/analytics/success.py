"""The architecture's success metrics (§9) over one period. Pure: the facts come in as rows.

Deployment reliability (success rate, mean time to recovery, failures caught before
production), speed (time to deploy staging and production), developer experience (the false
positive rate of automatic rollbacks, the pushes the pre-push gate blocked and the time that
saved) and cost (CI cost per deployment, wasted CI minutes). docs/analytics.md gives each
definition and what is not measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from safeship.analytics.dora import COUNTED, FAILED, Period, counted
from safeship.analytics.records import Measure
from safeship.registry.analytics_queries import CiRunTotals, DeploymentFacts, PrepushTotals

# Rollback rules a person fires: not automatic, so never a false positive of the checks.
MANUAL_RULES = frozenset({"manual"})
# The CI conclusions of a run that did what it was for (GitHub: success; CircleCI: success).
CI_SUCCESS = frozenset({"success"})


@dataclass(frozen=True)
class SuccessInputs:
    """What the §9 measures read, already narrowed to the report's scope."""

    deployments: Sequence[DeploymentFacts]  # the report's environment(s)
    staging: Sequence[DeploymentFacts]  # the staging environments' deployments
    production: Sequence[DeploymentFacts]  # the production environments' deployments
    rollback_triggered: Mapping[str, datetime]  # deployment id -> its rollback's start
    false_alarms: Collection[str]
    ci_runs: Sequence[CiRunTotals]  # the report's environment(s)
    prepush: Sequence[PrepushTotals]
    ci_price_per_minute: Mapping[str, float]
    prepush_minutes_saved: float


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def success_rate(deployments: Sequence[DeploymentFacts]) -> Measure:
    done = counted(deployments)
    ok = sum(1 for d in done if d.status == "succeeded")
    return Measure(
        "success_rate",
        "Deployment success rate",
        ok / len(done) if done else None,
        "ratio",
        None,
        f"{ok} of {_plural(len(done), 'deployment')} succeeded",
    )


def mean_time_to_recovery(
    deployments: Sequence[DeploymentFacts], rollback_triggered: Mapping[str, datetime]
) -> Measure:
    """Failure detected (the rollback rule fired: ``rollback.triggered``) to rollback complete
    (the rolled-back deployment's completion)."""
    minutes = []
    for d in deployments:
        start = rollback_triggered.get(d.id)
        if d.status == "rolled_back" and start is not None and d.completed_at is not None:
            minutes.append(max(0.0, (d.completed_at - start).total_seconds() / 60))
    return Measure(
        "mean_time_to_recovery",
        "Mean time to recovery (detection to rollback complete)",
        statistics.fmean(minutes) if minutes else None,
        "minutes",
        None,
        f"{_plural(len(minutes), 'rollback')} with a recorded trigger",
    )


def caught_before_production(
    staging: Sequence[DeploymentFacts], production: Sequence[DeploymentFacts]
) -> Measure:
    caught = sum(1 for d in staging if d.status in FAILED)
    escaped = sum(1 for d in production if d.status in FAILED)
    total = caught + escaped
    return Measure(
        "caught_before_production",
        "Failures caught before production",
        caught / total if total else None,
        "ratio",
        None,
        f"{caught} of {_plural(total, 'failed deployment')} were in staging",
    )


def time_to_deploy(deployments: Sequence[DeploymentFacts], name: str, where: str) -> Measure:
    """The median start-to-success time of the succeeded deployments of ``deployments``."""
    minutes = [
        (d.completed_at - d.started_at).total_seconds() / 60
        for d in deployments
        if d.status == "succeeded" and d.completed_at is not None
    ]
    return Measure(
        name,
        f"Time to deploy {where} (median)",
        statistics.median(minutes) if minutes else None,
        "minutes",
        None,
        f"start to success of {_plural(len(minutes), 'succeeded deployment')} to {where}",
    )


def false_positive_rate(
    deployments: Sequence[DeploymentFacts], false_alarms: Collection[str]
) -> Measure:
    automatic = [
        d
        for d in deployments
        if d.status == "rolled_back"
        and d.rollback_rule is not None
        and d.rollback_rule not in MANUAL_RULES
    ]
    marked = sum(1 for d in automatic if d.id in false_alarms)
    return Measure(
        "rollback_false_positive_rate",
        "False positive rate of automatic rollbacks",
        marked / len(automatic) if automatic else None,
        "ratio",
        None,
        f"{marked} of {_plural(len(automatic), 'automatic rollback')} marked false-alarm",
    )


def prepush_measures(
    prepush: Sequence[PrepushTotals], period: Period, minutes_per_block: float
) -> tuple[Measure, Measure]:
    runs = sum(t.runs for t in prepush)
    blocked = sum(t.runs for t in prepush if t.verdict == "blocked")
    has_data = runs > 0
    weeks = period.days / 7
    saved = blocked * minutes_per_block if has_data else None
    per_week = f" ({saved / weeks:.0f} a week)" if saved is not None and weeks >= 1 else ""
    return (
        Measure(
            "prepush_blocked_pushes",
            "Pushes blocked by the pre-push gate",
            float(blocked) if has_data else None,
            "count",
            None,
            f"{blocked} of {_plural(runs, 'recorded push')} blocked",
        ),
        Measure(
            "prepush_time_saved",
            "Time saved by the pre-push gate",
            saved,
            "minutes",
            None,
            f"{blocked} failed CI builds prevented x {minutes_per_block:g} minutes{per_week}",
        ),
    )


def ci_measures(
    ci_runs: Sequence[CiRunTotals],
    deployments: Sequence[DeploymentFacts],
    prices: Mapping[str, float],
) -> tuple[Measure, Measure]:
    runs = sum(t.runs for t in ci_runs)
    timed = sum(t.timed_runs for t in ci_runs)
    minutes = sum(t.seconds for t in ci_runs) / 60
    wasted = sum(t.seconds for t in ci_runs if t.conclusion not in CI_SUCCESS) / 60
    cost = sum(t.seconds / 60 * prices.get(t.path, 0.0) for t in ci_runs)
    done = sum(1 for d in deployments if d.status in COUNTED)
    has_data = timed > 0
    share = f" ({wasted / minutes:.0%} of {minutes:.0f})" if minutes > 0 else ""
    return (
        Measure(
            "ci_cost_per_deployment",
            "CI cost per deployment",
            cost / done if has_data and done else None,
            "usd",
            None,
            f"${cost:.2f} for {_plural(runs, 'CI run')} over {_plural(done, 'deployment')}",
        ),
        Measure(
            "ci_wasted_minutes",
            "Wasted CI minutes (runs that did not succeed)",
            wasted if has_data else None,
            "minutes",
            None,
            f"{wasted:.0f} CI minutes in runs that did not succeed{share}",
        ),
    )


def success_measures(inputs: SuccessInputs, period: Period) -> tuple[Measure, ...]:
    blocked, saved = prepush_measures(inputs.prepush, period, inputs.prepush_minutes_saved)
    cost, wasted = ci_measures(inputs.ci_runs, inputs.deployments, inputs.ci_price_per_minute)
    return (
        success_rate(inputs.deployments),
        mean_time_to_recovery(inputs.deployments, inputs.rollback_triggered),
        caught_before_production(inputs.staging, inputs.production),
        time_to_deploy(inputs.staging, "time_to_deploy_staging", "staging"),
        time_to_deploy(inputs.production, "time_to_deploy_production", "production"),
        false_positive_rate(inputs.deployments, inputs.false_alarms),
        blocked,
        saved,
        cost,
        wasted,
    )
