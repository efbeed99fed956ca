"""Rollback rules on the traffic and the process: what fired, and the figures that fired it.

Each rule is a plain function of figures (a release's window of requests from a
:class:`~safeship.analysis.metrics.MetricSource`, a process sample), so it can be tested on fixed
data; the bake (:mod:`safeship.analysis.bake`) gathers the figures and returns a ``Verdict``.
Immediate: the error rate over the step's window once ``min_requests`` are in. Sustained: a
condition that holds at every poll for the whole window (latency, resources), timed by
``Sustain``. The rules on health checks' results are in :mod:`safeship.pipeline.rules`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from safeship.config.models import RollbackRules
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats


@dataclass(frozen=True)
class Verdict:
    """A rule that fired (or, for a sustained rule, whose condition holds now).

    ``figures`` are JSON-ready numbers and short strings, stored in the
    ``rollback.triggered`` event (the rule on the deployment's row); ``reason`` is the one
    line the user reads, naming the same figures.
    """

    rule: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {"rule": self.rule, "figures": self.figures}


# -- immediate --------------------------------------------------------------------------------


def error_rate_verdict(window: BackendStats, rules: RollbackRules) -> Verdict | None:
    """The error rate over the window breaks the rule, else None.

    The rule is judged only once the window holds ``min_requests`` requests, so a single
    early error on a quiet service does not roll it back.
    """
    if window.requests < rules.min_requests or window.error_rate <= rules.error_rate:
        return None
    return Verdict(
        "error_rate",
        f"error rate {window.error_rate:.1%} over {window.requests} requests "
        f"exceeds the {rules.error_rate:.1%} threshold",
        {
            "error_rate": round(window.error_rate, 4),
            "requests": window.requests,
            "errors": window.errors,
            "threshold": rules.error_rate,
        },
    )


# -- sustained --------------------------------------------------------------------------------


def latency_verdict(
    release: BackendStats,
    stable: BackendStats | None,
    stored_p95_ms: float | None,
    rules: RollbackRules,
) -> Verdict | None:
    """The release's p95 over the window above ``latency_factor`` x the baseline p95.

    The baseline is the stable release's p95 over the same window when it has
    ``min_latency_samples`` samples, else ``stored_p95_ms`` (the previous good deployment's
    level-4 baseline); without either, or without enough samples of the release, the rule
    waits (None). Both p95s are read from the routers' histograms, linear within a bucket
    (buckets 4.4% wide, see ``LATENCY_BUCKETS_MS``), so they are within a few percent of the
    true p95 and are compared as they are.
    """
    if _samples(release) < rules.min_latency_samples:
        return None
    p95 = release.latency_quantile_ms(0.95)
    if p95 is None:
        return None
    source = "stable"
    baseline = stable.latency_quantile_ms(0.95) if stable is not None else None
    if stable is None or _samples(stable) < rules.min_latency_samples or baseline is None:
        source, baseline = "stored baseline", stored_p95_ms
    if baseline is None:
        return None
    limit = rules.latency_factor * baseline
    if p95 <= limit:
        return None
    return Verdict(
        "latency",
        f"p95 latency {_ms(p95)} > {rules.latency_factor:g}x the {source} p95 {_ms(baseline)}",
        {
            "p95_ms": _finite(p95),
            "baseline_p95_ms": round(baseline, 1),
            "baseline": source,
            "factor": rules.latency_factor,
            "samples": _samples(release),
        },
    )


def resources_verdict(
    cpu_percent: float | None, rss_mb: float | None, rules: RollbackRules
) -> Verdict | None:
    """CPU (fraction of one core) or RSS (fraction of ``memory_limit_mb``) over the limit."""
    limit = rules.resource_utilization
    figures: dict[str, Any] = {"limit": limit}
    over: list[str] = []
    if cpu_percent is not None:
        cpu = cpu_percent / 100
        figures["cpu"] = round(cpu, 3)
        if cpu > limit:
            over.append(f"CPU {cpu:.0%} of a core")
    if rss_mb is not None:
        figures["rss_mb"] = round(rss_mb, 1)
        if rules.memory_limit_mb is not None:
            memory = rss_mb / rules.memory_limit_mb
            figures["memory"] = round(memory, 3)
            figures["memory_limit_mb"] = rules.memory_limit_mb
            if memory > limit:
                over.append(f"RSS {rss_mb:.0f} MB of {rules.memory_limit_mb:g} MB ({memory:.0%})")
    if not over:
        return None
    return Verdict("resources", " and ".join(over) + f" > {limit:.0%}", figures)


class Sustain:
    """When each sustained condition began to hold; it fires once it held for the window.

    A poll where the condition does not hold starts it again. ``observe`` is called at every
    poll with the condition's verdict now (None: it does not hold).
    """

    def __init__(self) -> None:
        self.since: dict[str, float] = {}

    def observe(
        self, rule: str, now_verdict: Verdict | None, now: float, window: float
    ) -> Verdict | None:
        if now_verdict is None:
            self.since.pop(rule, None)
            return None
        began = self.since.setdefault(rule, now)
        held = now - began
        if held < window:
            return None
        return Verdict(
            now_verdict.rule,
            f"{now_verdict.reason}, sustained for {held:.1f} s",
            {**now_verdict.figures, "sustained_s": round(held, 1), "window_s": window},
        )


def health_score(window: BackendStats) -> float:
    """1.00 for a window without errors, falling with the error rate."""
    return round(1.0 - window.error_rate, 2)


# -- helpers ----------------------------------------------------------------------------------


def _samples(stats: BackendStats) -> int:
    return sum(stats.latency_buckets)


def _finite(ms: float) -> float:
    # The open bucket has no upper bound; JSON has no infinity: its lower bound stands in.
    return round(LATENCY_BUCKETS_MS[-1], 1) if math.isinf(ms) else round(ms, 1)


def _ms(ms: float) -> str:
    # The open bucket: above the last bound, no upper bound to give.
    return f"> {LATENCY_BUCKETS_MS[-1]:.0f} ms" if math.isinf(ms) else f"{ms:.1f} ms"
