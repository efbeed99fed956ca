"""Canary analysis: the judge compares a canary with the stable release over the same window."""

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
