"""The canary judge: scores the metrics' verdicts (:mod:`safeship.analysis.statistics`) and
decides what the bake does.

Repeated looks: the judge is polled over and over on a growing window, and each poll is one
more chance for noise to look significant (measured: most false alarms were such error-rate
verdicts, p between 0.001 and 0.02, at a random moment of the bake). :class:`CanaryBake` tests
each poll at ``alpha / looks``, one look per ``look_interval`` of the bake and, once an
extension runs, all the looks it may take (Bonferroni), and rolls back only on a failure held
for ``sustain`` seconds.

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

numpy and scipy are imported inside the statistics' functions (and by :class:`CanaryBake`
before its bake starts): importing this module stays cheap for every command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from safeship.analysis.settings import JudgeSettings
from safeship.analysis.statistics import (
    BUCKET_VALUES_MS,
    MetricVerdict,
    judge_error_rate,
    judge_latency,
    latency_quantile,
    latency_samples,
)
from safeship.routing.base import BackendStats

# The statistics are re-exported: the judge's callers read them through it.
__all__ = [
    "BUCKET_VALUES_MS",
    "Action",
    "BakeDecision",
    "CanaryBake",
    "Decision",
    "Judgement",
    "MetricVerdict",
    "decide",
    "judge",
    "judge_error_rate",
    "judge_latency",
    "latency_quantile",
    "latency_samples",
    "score",
]

Decision = Literal["continue", "pass", "fail", "undecided", "nodata"]
Action = Literal["wait", "promote", "rollback"]


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
        """The figures as JSON data (a live snapshot's; non-finite numbers as None)."""

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
