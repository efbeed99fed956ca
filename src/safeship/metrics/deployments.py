"""Deployment metrics, read from the registry through the core API at scrape time.

A Collector over the deployments ``read`` returns (the core's history: interpreted summaries,
never registry rows), so the figures are the registry's, recomputed at each scrape: counters
survive restarts of whatever serves them, and a deployment made by another safeship process
(CI, a colleague's laptop on the same registry) is counted too.

Metrics (label ``environment`` on each):

- ``safeship_deployments_total`` (counter, + ``outcome``: succeeded, failed, rolled_back,
  aborted): finished deployments;
- ``safeship_deployments_in_progress`` (gauge): deployments not finished yet;
- ``safeship_deployment_duration_seconds`` (histogram, + ``outcome``): start to finish;
- ``safeship_rollbacks_total`` (counter, + ``rule``: the rollback rule that fired, e.g.
  error_rate, latency, canary_analysis, manual; ``unknown`` when none was recorded);
- ``safeship_time_to_rollback_seconds`` (histogram): a rolled-back deployment's start to
  the end of its rollback;
- ``safeship_gate_verdicts_total`` (counter, + ``verdict``): the pre-push gate's verdict on
  the deployed commit (passed, failed, not_run), for deployments that recorded one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from safeship.core import DeploymentSummary

# Deployment durations (seconds): a fast deploy takes seconds, a canary with monitoring
# minutes, a long bake an hour.
DURATION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
# Rollbacks: an immediate rule fires in seconds, a sustained one after its window.
ROLLBACK_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class DeploymentCollector(Collector):
    def __init__(self, read: Callable[[], Sequence[DeploymentSummary]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        deployments = self.read()
        finished: Counter[tuple[str, str]] = Counter()
        running: Counter[str] = Counter()
        durations: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
        rollbacks: Counter[tuple[str, str]] = Counter()
        rollback_times: defaultdict[str, list[float]] = defaultdict(list)
        gates: Counter[tuple[str, str]] = Counter()
        for d in deployments:
            env = d.environment
            verdict = d.stored.get("gate_verdict")
            if isinstance(verdict, str):
                gates[env, verdict] += 1
            if not d.terminal:
                running[env] += 1
                continue
            finished[env, d.status] += 1
            seconds = d.duration_seconds
            if seconds is not None:
                durations[env, d.status].append(seconds)
            if d.status == "rolled_back":
                rule = d.stored.get("rollback_rule")
                rollbacks[env, rule if isinstance(rule, str) and rule else "unknown"] += 1
                if seconds is not None:
                    rollback_times[env].append(seconds)

        total = CounterMetricFamily(
            "safeship_deployments",
            "Finished deployments by environment and outcome.",
            labels=["environment", "outcome"],
        )
        for (env, outcome), n in sorted(finished.items()):
            total.add_metric([env, outcome], n)
        yield total
        in_progress = GaugeMetricFamily(
            "safeship_deployments_in_progress",
            "Deployments not finished yet.",
            labels=["environment"],
        )
        for env, n in sorted(running.items()):
            in_progress.add_metric([env], n)
        yield in_progress
        duration = HistogramMetricFamily(
            "safeship_deployment_duration_seconds",
            "Deployment duration, start to finish, by outcome.",
            labels=["environment", "outcome"],
        )
        for (env, outcome), values in sorted(durations.items()):
            duration.add_metric([env, outcome], *_histogram(values, DURATION_BUCKETS))
        yield duration
        rolled = CounterMetricFamily(
            "safeship_rollbacks",
            "Automatic and manual rollbacks by the rule that fired.",
            labels=["environment", "rule"],
        )
        for (env, rule), n in sorted(rollbacks.items()):
            rolled.add_metric([env, rule], n)
        yield rolled
        to_rollback = HistogramMetricFamily(
            "safeship_time_to_rollback_seconds",
            "A rolled-back deployment's start to the end of its rollback.",
            labels=["environment"],
        )
        for env, values in sorted(rollback_times.items()):
            to_rollback.add_metric([env], *_histogram(values, ROLLBACK_BUCKETS))
        yield to_rollback
        gate = CounterMetricFamily(
            "safeship_gate_verdicts",
            "The pre-push gate's verdict on each deployed commit that recorded one.",
            labels=["environment", "verdict"],
        )
        for (env, verdict), n in sorted(gates.items()):
            gate.add_metric([env, verdict], n)
        yield gate


def _histogram(
    values: Sequence[float], bounds: Sequence[float]
) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) pairs with +Inf, and the sum, for HistogramMetricFamily."""
    buckets = [(f"{b:g}", float(sum(1 for v in values if v <= b))) for b in bounds]
    buckets.append(("+Inf", float(len(values))))
    return buckets, float(sum(values))
