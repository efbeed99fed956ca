"""The canary judge: canary vs stable over the same window, with scipy's tests.

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

Repeated looks: the judge is polled over and over on a growing window, and each poll is one
more chance for noise to look significant (measured: most false alarms were such error-rate
verdicts, p between 0.001 and 0.02, at a random moment of the bake). :class:`CanaryBake` tests
each poll at ``alpha / looks``, one look per ``look_interval`` of the bake and, once an
extension runs, all the looks it may take (Bonferroni), and rolls back only on a failure held
for ``sustain`` seconds.

Histograms to samples: the routers report a latency histogram (``LATENCY_BUCKETS_MS``: bounds
2^(i/16) ms, buckets 4.4% wide from 0.1 ms to 120 s), not raw samples. Each request counted in
bucket i becomes one sample at that bucket's representative value, 2·lower·upper/(lower+upper)
(within 2.2% of any latency in the bucket; the open last bucket at twice the last bound), see
:func:`latency_samples`. Mann-Whitney U only uses ranks, and any increasing map of buckets to
values gives the same ranks, so the test's p-value does not depend on that choice: requests in
one bucket are ties, which scipy's tie correction handles. The mean uses the exact sum
(``latency_sum_ms`` / responses) when the stats carry it; quantiles are interpolated linearly
inside their bucket (:meth:`BackendStats.latency_quantile_ms`).

Score (as Kayenta): the weighted share of judged metrics that pass (pass or low), 0-100;
nodata and undecided metrics are left out. Decision of one judgement:

- ``fail``: a critical metric is high, or the score is below ``marginal_score``;
- ``nodata``: otherwise, while any metric lacks its minimum sample size;
- ``undecided``: otherwise, while any metric is undecided;
- ``pass``: score >= ``pass_score``;
- ``continue``: marginal (between the two): keep watching.

:func:`decide` turns a judgement and the bake's elapsed time into the pipeline's action:
roll back on a fail held for ``sustain`` seconds; promote on pass once the bake time is over;
on nodata, undecided or marginal at the end of the bake, extend it up to ``nodata_extension``
seconds; then nodata follows ``nodata_policy`` (a "pass" by policy says so in its reason, it
never passes silently), undecided passes saying that no significant difference appeared, and
marginal rolls back.

numpy and scipy are imported inside the functions that compute: importing this module (the
config models import the settings through this package) stays cheap for every command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from safeship.analysis.settings import JudgeSettings
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats, latency_bucket_bounds

if TYPE_CHECKING:  # numpy and scipy are imported where the tests run (0.9 s at start-up)
    import numpy as np
    import numpy.typing as npt

Verdict = Literal["pass", "high", "low", "undecided", "nodata"]
Decision = Literal["continue", "pass", "fail", "undecided", "nodata"]
Action = Literal["wait", "promote", "rollback"]


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
    verdict: Verdict
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


@dataclass(frozen=True)
class Judgement:
    """The verdict per metric, the score (None when nothing could be judged) and the decision."""

    verdicts: tuple[MetricVerdict, ...]
    score: float | None
    decision: Decision

    def describe(self) -> str:
        score = "n/a" if self.score is None else f"{self.score:.0f}"
        parts = "; ".join(v.describe() for v in self.verdicts)
        return f"score {score} ({self.decision}): {parts}"

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON data (the registry's metadata; non-finite numbers as None)."""

        def finite(value: Any) -> Any:
            if isinstance(value, Mapping):
                return {k: finite(v) for k, v in value.items()}
            return None if isinstance(value, float) and not math.isfinite(value) else value

        metrics = [{k: finite(v) for k, v in asdict(m).items()} for m in self.verdicts]
        return {"score": self.score, "decision": self.decision, "metrics": metrics}


@dataclass(frozen=True)
class BakeDecision:
    """What the pipeline does after this poll, and why (one line)."""

    action: Action
    reason: str
    judgement: Judgement


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
    verdict: Verdict = "pass"
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
    verdict: Verdict = "pass"
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


def score(verdicts: Sequence[MetricVerdict]) -> float | None:
    """Weighted share (0-100) of judged metrics that pass; None if none was judged.

    Metrics without data and undecided ones are left out: neither passed nor failed yet.
    """
    judged = [v for v in verdicts if v.verdict not in ("nodata", "undecided")]
    total = sum(v.weight for v in judged)
    if not judged or total <= 0:
        return None
    passed = sum(v.weight for v in judged if v.verdict in ("pass", "low"))
    return 100.0 * passed / total


def judge(
    canary: BackendStats,
    stable: BackendStats,
    settings: JudgeSettings,
    *,
    latency: tuple[BackendStats, BackendStats] | None = None,
    alpha: float | None = None,
) -> Judgement:
    """Compare the canary's window with the stable release's window (same time span).

    ``latency``: other (canary, stable) windows for the latency metric, e.g. the ones after the
    warm-up (:class:`CanaryBake` does that); by default the same windows as the error rate.
    """
    lat_canary, lat_stable = latency or (canary, stable)
    verdicts = (
        judge_error_rate(canary, stable, settings, alpha=alpha),
        judge_latency(lat_canary, lat_stable, settings, alpha=alpha),
    )
    value = score(verdicts)
    decision: Decision
    critical_high = any(v.critical and v.verdict == "high" for v in verdicts)
    if critical_high or (value is not None and value < settings.marginal_score):
        decision = "fail"
    elif any(v.verdict == "nodata" for v in verdicts):
        decision = "nodata"
    elif any(v.verdict == "undecided" for v in verdicts):
        decision = "undecided"
    elif value is not None and value >= settings.pass_score:
        decision = "pass"
    else:
        decision = "continue"
    return Judgement(verdicts=verdicts, score=value, decision=decision)


def decide(
    judgement: Judgement,
    *,
    elapsed: float,
    bake_time: float,
    settings: JudgeSettings,
    failing_for: float | None = None,
) -> BakeDecision:
    """The pipeline's action after one poll, ``elapsed`` seconds into a bake of ``bake_time``.

    ``failing_for``: how long the judgement has been "fail" without a break (None: only this
    poll); a fail rolls back once that reaches ``settings.sustain``. :class:`CanaryBake` keeps
    that for the caller.
    """
    j = judgement
    if j.decision == "fail":
        failing = [v for v in j.verdicts if v.verdict == "high"]
        held = failing_for or 0.0
        if held >= settings.sustain:
            return BakeDecision("rollback", "canary analysis failed: " + _figures(failing, j), j)
        return BakeDecision(
            "wait", f"failing for {held:.0f} of {settings.sustain:g} s: {_figures(failing, j)}", j
        )
    if elapsed < bake_time:
        return BakeDecision("wait", f"baking: {j.describe()}", j)
    if j.decision == "pass":
        return BakeDecision("promote", f"canary analysis passed: {j.describe()}", j)
    limit = bake_time + settings.nodata_extension
    what = {
        "nodata": "not enough data",
        "undecided": "canary worse but not yet significantly",
    }.get(j.decision, "marginal score")
    if elapsed < limit:
        return BakeDecision(
            "wait", f"{what}: bake extended ({elapsed:.0f} of {limit:.0f} s): {j.describe()}", j
        )
    if j.decision == "nodata" and settings.nodata_policy == "pass":
        return BakeDecision(
            "promote", f"{what} after {elapsed:.0f} s; promoted by nodata_policy=pass", j
        )
    if j.decision == "undecided":
        # The extension gave the difference every chance to become significant (or large
        # enough) and it did not: a fail now would be a guess (most such canaries are healthy
        # with a few unlucky errors), so it passes, saying so.
        return BakeDecision(
            "promote",
            f"canary analysis passed: still undecided after {elapsed:.0f} s (the bake and "
            f"its extension), no regression established: {j.describe()}",
            j,
        )
    return BakeDecision("rollback", f"canary analysis: {what} after {elapsed:.0f} s", j)


def _figures(failing: Sequence[MetricVerdict], j: Judgement) -> str:
    parts = [v.describe() for v in failing] or [j.describe()]
    score = "" if j.score is None else f" (score {j.score:.0f})"
    return "; ".join(parts) + score


@dataclass
class CanaryBake:
    """One canary step's analysis: call :meth:`poll` with the windows since the step began.

    Holds the windows at the end of the warm-up (latency is judged from there) and when the
    judgement started failing; everything else is in the arguments.
    """

    settings: JudgeSettings
    bake_time: float
    failing_since: float | None = None
    at_warmup: tuple[BackendStats, BackendStats] | None = None
    last_failing: float | None = None  # the last poll judged "fail"

    def __post_init__(self) -> None:
        # scipy.stats takes 0.9 s to import (far more on a loaded host): here, before the
        # bake's clock and loop start, not in its first poll, which would hold every rule
        # (process exit, health) for that long while the canary takes traffic.
        import scipy.stats  # type: ignore[import-untyped]  # noqa: F401

    def looks_at(self, elapsed: float) -> int:
        """How many looks the bake counts as by ``elapsed``: one per ``look_interval`` of the
        bake time; past it (the polls within one interval of its end still belong to its
        last look), also every look the whole extension may take, counted at once.

        Counting the extension's looks one by one as they come would let its level shrink
        only as 1/k: the extension's false alarms would add up like a harmonic series (over
        a 120 s extension of a 60 s bake, as much again as the bake's own; measured: 3 more
        healthy canaries of 200 rolled back, all in the extension).
        """
        interval = self.settings.look_interval
        bake = max(1, math.ceil(self.bake_time / interval - 1e-9))
        if elapsed < self.bake_time + interval:
            return bake
        return bake + max(1, math.ceil(self.settings.nodata_extension / interval - 1e-9))

    @property
    def looks(self) -> int:
        """Looks over the bake time (an extension adds its own, see :meth:`looks_at`)."""
        return self.looks_at(0.0)

    def alpha_at(self, elapsed: float) -> float:
        """Each poll's level: ``settings.alpha`` shared by the looks (Bonferroni)."""
        return self.settings.alpha / self.looks_at(elapsed)

    @property
    def alpha(self) -> float:
        return self.alpha_at(0.0)

    @property
    def _limit(self) -> float:
        # The end of the extension: the pipeline's own bound is this plus sustain, so a pass
        # held back for sustain seconds here still ends within it.
        return self.bake_time + self.settings.nodata_extension

    def poll(self, canary: BackendStats, stable: BackendStats, elapsed: float) -> BakeDecision:
        """``canary``, ``stable``: each release's window since the step began."""
        if self.at_warmup is None and elapsed >= self.settings.warmup:
            self.at_warmup = (canary, stable)
        if self.at_warmup is None:
            latency = (BackendStats(), BackendStats())  # nodata until the warm-up is over
        else:
            latency = (canary.minus(self.at_warmup[0]), stable.minus(self.at_warmup[1]))
        alpha = self.alpha_at(elapsed)
        judgement = judge(canary, stable, self.settings, latency=latency, alpha=alpha)
        if judgement.decision == "fail":
            if self.failing_since is None:
                self.failing_since = elapsed
            self.last_failing = elapsed
        else:
            self.failing_since = None
        held = None if self.failing_since is None else elapsed - self.failing_since
        decision = decide(
            judgement,
            elapsed=elapsed,
            bake_time=self.bake_time,
            settings=self.settings,
            failing_for=held,
        )
        # The sustain works both ways: a failure that broke off a moment ago does not let the
        # next passing poll promote (a ratio hovering at the tolerance would promote on its
        # first dip); the pass must hold for ``sustain`` seconds first.
        since_fail = None if self.last_failing is None else elapsed - self.last_failing
        recovering = since_fail is not None and since_fail < self.settings.sustain
        if decision.action == "promote" and recovering and elapsed < self._limit:
            return BakeDecision(
                "wait",
                f"passing for {since_fail:.0f} of {self.settings.sustain:g} s after a "
                f"failure: {judgement.describe()}",
                judgement,
            )
        return decision
