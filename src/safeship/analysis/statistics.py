"""The judge's statistics: one verdict per metric, canary vs stable over the same window.

Metrics (each gets a verdict: pass, high, low, undecided or nodata):

- ``error_rate``: errors (5xx and connect errors) per request. Fisher's exact test on the 2x2
  table (errors, successes) x (canary, stable), one-sided each way. "high" needs p < alpha for
  "canary worse" *and* the canary's rate above stable's by ``error_rate_tolerance`` points or
  by ``error_rate_relative_tolerance`` x stable's rate, whichever is larger; "low" is the
  mirror image (a better canary; it counts as a pass). "undecided": above by half the
  tolerance with p below ``undecided_p`` but not alpha — a canary at 1% beside 0% shows one
  error in its first 100 requests (p = 0.1 at a 10% step); promoting it then is the clock
  deciding, not the statistics, so the bake goes on.
- ``latency``: the Mann-Whitney U test (one-sided each way, as Kayenta's judge), with an
  effect-size tolerance on the canary/stable ratios of each of ``latency_quantiles`` (the
  median by default; the mean when it is empty). "high" needs p < alpha *and* each of those
  ratios >= 1 + ``latency_tolerance`` (a GC pause or two in a heavy tail moves the mean, not
  the median; so does the host's own tail, shared by both releases). The verdict records the
  mean, p50 and p95 ratios (``ratios``) and which ones it needed (``gated``), whatever it is.

Histograms to samples: the routers report a latency histogram (``LATENCY_BUCKETS_MS``: bounds
2^(i/16) ms, buckets 4.4% wide from 0.1 ms to 120 s), not raw samples. Each request counted in
bucket i becomes one sample at that bucket's representative value, 2·lower·upper/(lower+upper)
(within 2.2% of any latency in the bucket; the open last bucket at twice the last bound), see
:func:`latency_samples`. Mann-Whitney U only uses ranks, and any increasing map of buckets to
values gives the same ranks, so the test's p-value does not depend on that choice: requests in
one bucket are ties, which scipy's tie correction handles. The mean uses the exact sum
(``latency_sum_ms`` / responses) when the stats carry it; quantiles are interpolated linearly
inside their bucket (:meth:`BackendStats.latency_quantile_ms`).

The judge (:mod:`safeship.analysis.judge`) scores these verdicts and decides.

numpy and scipy are imported inside the functions that compute: importing this module (the
config models import the settings through this package) stays cheap for every command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from safeship.analysis.settings import JudgeSettings
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats, latency_bucket_bounds

if TYPE_CHECKING:  # numpy and scipy are imported where the tests run (0.9 s at start-up)
    import numpy as np
    import numpy.typing as npt

# What one metric's comparison found.
MetricResult = Literal["pass", "high", "low", "undecided", "nodata"]


def _representative_ms(index: int) -> float:
    """The value standing for bucket ``index``'s responses: the one closest, relatively, to
    every value in (lower, upper] (2 lower upper / (lower + upper), as DDSketch); the first
    bucket's midpoint; the open last bucket at twice its bound."""
    lower, upper = latency_bucket_bounds(index)
    if math.isinf(upper):
        return 2 * lower
    if lower == 0:
        return upper / 2
    return 2 * lower * upper / (lower + upper)


# One representative value (ms) per histogram bucket.
BUCKET_VALUES_MS: tuple[float, ...] = tuple(
    _representative_ms(i) for i in range(len(LATENCY_BUCKETS_MS) + 1)
)
# The latency quantiles whose canary/stable ratios every latency verdict records (those the
# settings judge are added to these).
REPORTED_QUANTILES = (0.5, 0.95)


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's comparison, with the figures behind it."""

    name: str
    verdict: MetricResult
    canary: float | None  # error rate (fraction) or mean latency (ms); None without samples
    stable: float | None
    n_canary: int
    n_stable: int
    p_high: float | None = None  # p-value of "canary worse"
    p_low: float | None = None  # p-value of "canary better"
    effect: float | None = None  # error: canary - stable (points); latency: canary / stable
    critical: bool = False
    weight: float = 1.0
    # Latency: canary / stable of the mean and of quantiles, as {"mean": 1.6, "p50": 1.6, ...};
    # "high" needs each of ``gated`` (the mean and the judged quantiles) at least ``threshold``.
    ratios: Mapping[str, float] = field(default_factory=dict)
    gated: tuple[str, ...] = ()
    # The effect the verdict needed: latency, the smallest ratio; error rate, the points above
    # stable's rate.
    threshold: float | None = None
    alpha: float | None = None  # the level p_high was tested at (corrected for looks)

    def describe(self) -> str:
        """One line: the figures and the verdict."""
        if self.canary is None or self.stable is None:
            return f"{self.name}: nodata (canary {self.n_canary}, stable {self.n_stable} samples)"
        if self.name == "error_rate":
            figures = f"canary {self.canary:.2%} vs stable {self.stable:.2%}"
            if self.threshold is not None:
                figures += f", +{self.threshold:.2%} needed"
        else:
            figures = f"canary {self.canary:.1f} ms vs stable {self.stable:.1f} ms"
            if self.ratios:
                figures += ", x " + " ".join(f"{k} {v:.2f}" for k, v in self.ratios.items())
                if self.threshold is not None and self.gated:
                    figures += f" (high: {', '.join(self.gated)} >= {self.threshold:.2f})"
        p = f", p={self.p_high:.2g}" if self.p_high is not None else ""
        if p and self.alpha is not None:
            p += f" (alpha {self.alpha:.2g})"
        return f"{self.name}: {self.verdict} ({figures}{p}; n={self.n_canary}/{self.n_stable})"


def latency_samples(stats: BackendStats) -> npt.NDArray[np.float64]:
    """One sample per response: its histogram bucket's representative value (ms)."""
    import numpy as np

    return np.repeat(np.asarray(BUCKET_VALUES_MS, dtype=np.float64), stats.latency_buckets)


def latency_quantile(stats: BackendStats, q: float) -> float | None:
    """Quantile ``q`` of the latency (ms), linear within its histogram bucket; None if empty."""
    return stats.latency_quantile_ms(q)


def _quantile_ratio(canary: BackendStats, stable: BackendStats, q: float) -> float:
    c, s = latency_quantile(canary, q), latency_quantile(stable, q)
    if c is None or s is None or c == s:  # equal: both in the open bucket (inf) too
        return 1.0
    return c / s if s > 0 else math.inf


def _slower_by(
    canary: BackendStats, stable: BackendStats, settings: JudgeSettings, mean_difference: float
) -> bool:
    """Whether the canary is slower by ``latency_min_difference_ms`` at every judged quantile
    (in the mean when none is judged), as the ratios are gated."""
    if not settings.latency_quantiles:
        return mean_difference >= settings.latency_min_difference_ms
    for q in settings.latency_quantiles:
        c, s = latency_quantile(canary, q), latency_quantile(stable, q)
        if c is None or s is None or c - s < settings.latency_min_difference_ms:
            return False
    return True


def _mean_latency(stats: BackendStats, samples: npt.NDArray[np.float64]) -> float:
    if stats.latency_sum_ms > 0:
        return stats.latency_sum_ms / len(samples)
    return float(samples.mean())


def _quantile_name(q: float) -> str:
    return f"p{q * 100:g}"


def judge_error_rate(
    canary: BackendStats,
    stable: BackendStats,
    settings: JudgeSettings,
    *,
    alpha: float | None = None,
) -> MetricVerdict:
    """Error rate: Fisher's exact test, gated by the absolute and relative tolerances.

    ``alpha``: this poll's level (default ``settings.alpha``; :class:`CanaryBake` passes the
    level corrected for the bake's looks). "undecided": the canary's rate is above stable's by
    the tolerance, but p is only below ``settings.undecided_p``, not alpha — too little
    evidence to fail it, too much to promote it (a 1% canary beside a 0% stable at 5 req/s
    shows one error in 20 s): the bake goes on.
    """
    from scipy.stats import fisher_exact  # type: ignore[import-untyped]

    alpha = settings.alpha if alpha is None else alpha
    common = {
        "name": "error_rate",
        "n_canary": canary.requests,
        "n_stable": stable.requests,
        "critical": settings.error_rate_critical,
        "weight": settings.error_rate_weight,
        "alpha": alpha,
    }
    if min(canary.requests, stable.requests) < settings.min_requests:
        rates = [s.error_rate if s.requests else None for s in (canary, stable)]
        return MetricVerdict(verdict="nodata", canary=rates[0], stable=rates[1], **common)  # type: ignore[arg-type]
    table = [
        [canary.errors, canary.requests - canary.errors],
        [stable.errors, stable.requests - stable.errors],
    ]
    p_high = float(fisher_exact(table, alternative="greater").pvalue)
    p_low = float(fisher_exact(table, alternative="less").pvalue)
    effect = canary.error_rate - stable.error_rate
    verdict: MetricResult = "pass"
    # The difference that counts: the absolute tolerance, or the relative one if larger.
    rel = settings.error_rate_relative_tolerance
    needed = max(settings.error_rate_tolerance, rel * stable.error_rate)
    if effect >= needed and p_high < alpha:
        verdict = "high"
    elif effect >= needed / 2 and alpha <= p_high < settings.undecided_p:
        # Not significant yet. Half the tolerance keeps a suspect canary under watch while its
        # observed rate wanders: 1 error in 250 requests (0.4%) beside none is still suspect
        # at p = 0.1 (with the full tolerance as the exit, half of the simulated 1% canaries
        # promoted there). A significant difference under the tolerance is known well enough:
        # it passes.
        verdict = "undecided"
    elif p_low < alpha and -effect >= max(settings.error_rate_tolerance, rel * canary.error_rate):
        verdict = "low"
    return MetricVerdict(
        verdict=verdict,
        canary=canary.error_rate,
        stable=stable.error_rate,
        p_high=p_high,
        p_low=p_low,
        effect=effect,
        threshold=needed,
        **common,  # type: ignore[arg-type]
    )


def judge_latency(
    canary: BackendStats,
    stable: BackendStats,
    settings: JudgeSettings,
    *,
    alpha: float | None = None,
) -> MetricVerdict:
    """Latency: Mann-Whitney U on the histograms' representative values, gated by the ratios
    of the mean and of ``settings.latency_quantiles`` (every one >= 1 + latency_tolerance)."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    alpha = settings.alpha if alpha is None else alpha
    c, s = latency_samples(canary), latency_samples(stable)
    common = {
        "name": "latency",
        "n_canary": len(c),
        "n_stable": len(s),
        "critical": settings.latency_critical,
        "weight": settings.latency_weight,
        "alpha": alpha,
        "threshold": 1 + settings.latency_tolerance,
    }
    if min(len(c), len(s)) < settings.min_latency_samples:
        means = [_mean_latency(st, x) if len(x) else None for st, x in ((canary, c), (stable, s))]
        return MetricVerdict(verdict="nodata", canary=means[0], stable=means[1], **common)  # type: ignore[arg-type]
    c_mean, s_mean = _mean_latency(canary, c), _mean_latency(stable, s)
    # All samples equal (one bucket each side, the same one): no difference to test.
    if np.ptp(np.concatenate([c, s])) == 0:
        p_high = p_low = 1.0
    else:
        p_high = float(mannwhitneyu(c, s, alternative="greater").pvalue)
        p_low = float(mannwhitneyu(c, s, alternative="less").pvalue)
    ratio = c_mean / s_mean if s_mean > 0 else math.inf
    # The effect at each judged quantile (the mean without any): the smallest ratio counts
    # for "high" (a slower canary is slower throughout, not in a few requests of a heavy
    # tail), the largest for "low". The mean, p50 and p95 ratios are recorded whatever is
    # judged.
    judged = {
        _quantile_name(q): _quantile_ratio(canary, stable, q) for q in settings.latency_quantiles
    } or {"mean": ratio}
    ratios = {"mean": ratio, **judged}
    for q in REPORTED_QUANTILES:
        ratios.setdefault(_quantile_name(q), _quantile_ratio(canary, stable, q))
    effects = list(judged.values())
    verdict: MetricResult = "pass"
    tolerance = settings.latency_tolerance
    noticeable = _slower_by(canary, stable, settings, c_mean - s_mean)
    if noticeable and p_high < alpha and min(effects) >= 1 + tolerance:
        verdict = "high"
    elif noticeable and p_high < settings.undecided_p and min(effects) >= 1 + tolerance / 2:
        # Slower, within half the tolerance of "high", or by the tolerance but not yet
        # significantly: with 50 samples a ratio is known to a few tenths (measured on a busy
        # host: a 1.3x canary read 1.15x at its first look), so more samples decide.
        verdict = "undecided"
    elif p_low < alpha and max(effects) * (1 + tolerance) <= 1:
        verdict = "low"
    return MetricVerdict(
        verdict=verdict,
        canary=c_mean,
        stable=s_mean,
        p_high=p_high,
        p_low=p_low,
        effect=ratio,
        ratios={k: round(v, 3) for k, v in ratios.items()},
        gated=tuple(judged),
        **common,  # type: ignore[arg-type]
    )
