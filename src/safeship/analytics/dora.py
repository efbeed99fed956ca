"""The five DORA measures (https://dora.dev/guides/dora-metrics-four-keys/) over one period's
deployments of the production environments. Pure: the deployments come in as rows.

What counts (docs/analytics.md says why):

- a *deployment* is a finished one that was not aborted: succeeded, rolled_back or failed
  (aborted ones were stopped by a person, or by a crash, before they took traffic: no change
  was delivered nor refused by the checks);
- a *failed deployment* is rolled_back (took traffic, reverted) or failed (its checks refused
  it before traffic);
- its *recovery* is the next succeeded deployment of the same environment: the failure lasted
  from the failed deployment's start to that deployment's completion;
- *rework* is a deployment whose previous deployment in the same environment failed: the
  unplanned deployment that follows a failure.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Final

from safeship.analytics import bands
from safeship.analytics.records import Measure
from safeship.registry.analytics_queries import DeploymentFacts

COUNTED: Final = frozenset({"succeeded", "rolled_back", "failed"})
FAILED: Final = frozenset({"rolled_back", "failed"})


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        return (self.until - self.since) / timedelta(days=1)

    def describe(self) -> str:
        days = self.days
        return f"{days:g} day{'s' if days != 1 else ''}" if days >= 1 else f"{days * 24:g} h"


@dataclass(frozen=True)
class Recovery:
    """A failed deployment and the succeeded one that followed it in its environment."""

    failed: DeploymentFacts
    recovered_by: DeploymentFacts

    @property
    def minutes(self) -> float:
        end = self.recovered_by.completed_at or self.recovered_by.started_at
        return max(0.0, (end - self.failed.started_at).total_seconds() / 60)


def counted(deployments: Iterable[DeploymentFacts]) -> list[DeploymentFacts]:
    return [d for d in deployments if d.status in COUNTED]


def by_environment(
    deployments: Iterable[DeploymentFacts],
) -> dict[str, list[DeploymentFacts]]:
    grouped: defaultdict[str, list[DeploymentFacts]] = defaultdict(list)
    # Stable: rows that started at the same instant keep the registry's order (by id).
    for d in sorted(deployments, key=attrgetter("started_at")):
        grouped[d.environment].append(d)
    return dict(grouped)


def recoveries(
    deployments: Sequence[DeploymentFacts], recovered_after: Mapping[str, DeploymentFacts]
) -> tuple[list[Recovery], int]:
    """Each failed deployment's recovery (the next succeeded deployment of its environment, in
    the period or the first one after it), and how many failures have none yet."""
    found: list[Recovery] = []
    open_failures = 0
    for environment, rows in by_environment(deployments).items():
        pending: list[DeploymentFacts] = []
        for d in rows:
            if d.status in FAILED:
                pending.append(d)
            elif d.status == "succeeded" and pending:
                found += [Recovery(f, d) for f in pending]
                pending = []
        later = recovered_after.get(environment)
        if pending and later is not None:
            found += [Recovery(f, later) for f in pending]
        elif pending:
            open_failures += len(pending)
    found.sort(key=lambda r: (r.failed.started_at, r.failed.id))
    return found, open_failures


def rework(
    deployments: Sequence[DeploymentFacts], before: Mapping[str, DeploymentFacts]
) -> list[DeploymentFacts]:
    """The deployments whose previous deployment in the same environment failed."""
    found = []
    for environment, rows in by_environment(counted(deployments)).items():
        previous = before.get(environment)
        for d in rows:
            if previous is not None and previous.status in FAILED:
                found.append(d)
            previous = d
    return found


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def dora_measures(
    deployments: Sequence[DeploymentFacts],
    period: Period,
    *,
    before: Mapping[str, DeploymentFacts],
    recovered_after: Mapping[str, DeploymentFacts],
    lead_time_hours: Sequence[float] | None,
    lead_time_detail: str,
) -> tuple[Measure, ...]:
    """The five measures over ``deployments`` (the production environments' deployments that
    started in the period). ``lead_time_hours``: each shipped commit's lead time (None: not
    known; ``lead_time_detail`` says why)."""
    done = counted(deployments)
    failures = [d for d in done if d.status in FAILED]
    days = period.days
    per_day = len(done) / days if days > 0 else None
    frequency = Measure(
        "deployment_frequency",
        "Deployment frequency",
        per_day,
        "per_day",
        bands.frequency_band(per_day),
        f"{_plural(len(done), 'deployment')} in {period.describe()}",
    )
    lead = _median(lead_time_hours) if lead_time_hours else None
    lead_time = Measure(
        "change_lead_time",
        "Change lead time (median)",
        lead,
        "hours",
        bands.lead_time_band(lead),
        lead_time_detail,
    )
    ratio = len(failures) / len(done) if done else None
    fail_rate = Measure(
        "change_fail_rate",
        "Change fail rate",
        ratio,
        "ratio",
        bands.change_fail_band(ratio),
        f"{len(failures)} of {_plural(len(done), 'deployment')} failed or rolled back",
    )
    recovered, unrecovered = recoveries(deployments, recovered_after)
    hours = _median([r.minutes / 60 for r in recovered])
    still = f"; {unrecovered} not recovered yet" if unrecovered else ""
    recovery = Measure(
        "failed_deployment_recovery_time",
        "Failed deployment recovery time (median)",
        hours,
        "hours",
        bands.recovery_band(hours),
        f"{_plural(len(recovered), 'failed deployment')} recovered by the next success{still}",
    )
    reworked = rework(deployments, before)
    rework_ratio = len(reworked) / len(done) if done else None
    rework_rate = Measure(
        "deployment_rework_rate",
        "Deployment rework rate",
        rework_ratio,
        "ratio",
        None,
        f"{len(reworked)} of {_plural(len(done), 'deployment')} followed a failed one",
    )
    return (frequency, lead_time, fail_rate, recovery, rework_rate)
