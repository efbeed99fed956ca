"""Canary analysis: the judge compares a canary with the stable release over the same window;
the bake (:mod:`safeship.analysis.bake`) watches a release under the rollback rules
(:mod:`safeship.analysis.rules`) and the judge, reading traffic from a MetricSource
(:mod:`safeship.analysis.metrics`), and returns how it ended.

Importing this package (as the config models do, for :class:`JudgeSettings` in
:mod:`safeship.analysis.settings`) imports nothing else: the names below are resolved on first
use (``__getattr__``), so `safeship status` and every other command that only reads the config
start without the judge (and the judge imports numpy and scipy only inside its tests).

The judge function is not among them: once the module :mod:`safeship.analysis.judge` is
imported, ``safeship.analysis.judge`` names that module (Python binds a submodule to its
package), so import the function from the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safeship._lazy import lazy_exports

if TYPE_CHECKING:
    from safeship.analysis.judge import (
        BakeDecision,
        CanaryBake,
        Judgement,
        MetricVerdict,
        decide,
        latency_quantile,
        latency_samples,
    )
    from safeship.analysis.settings import JudgeSettings

_LAZY = {
    "BakeDecision": "safeship.analysis.judge",
    "CanaryBake": "safeship.analysis.judge",
    "Judgement": "safeship.analysis.judge",
    "MetricVerdict": "safeship.analysis.judge",
    "decide": "safeship.analysis.judge",
    "latency_quantile": "safeship.analysis.judge",
    "latency_samples": "safeship.analysis.judge",
    "JudgeSettings": "safeship.analysis.settings",
}


__getattr__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "BakeDecision",
    "CanaryBake",
    "JudgeSettings",
    "Judgement",
    "MetricVerdict",
    "decide",
    "latency_quantile",
    "latency_samples",
]
