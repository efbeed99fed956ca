"""Canary analysis: the judge compares a canary with the stable release over the same window;
the bake (:mod:`safeship.analysis.bake`) watches a release under the rollback rules
(:mod:`safeship.analysis.rules`) and the judge, reading traffic from a MetricSource
(:mod:`safeship.analysis.metrics`), and returns how it ended.

Importing this package (as the config models do, for :class:`JudgeSettings`) imports neither
numpy nor scipy: the judge imports them inside the functions that run the tests, so
`safeship status` and every other command that only reads the config start without them.
"""

from safeship.analysis.judge import (
    BakeDecision,
    CanaryBake,
    Judgement,
    MetricVerdict,
    decide,
    judge,
    latency_quantile,
    latency_samples,
)
from safeship.analysis.settings import JudgeSettings

__all__ = [
    "BakeDecision",
    "CanaryBake",
    "JudgeSettings",
    "Judgement",
    "MetricVerdict",
    "decide",
    "judge",
    "latency_quantile",
    "latency_samples",
]
