"""Rollback rules judged on a release's stats over its bake window."""

from __future__ import annotations

from safeship.config.models import RollbackRules
from safeship.routing.base import BackendStats


def error_rate_verdict(window: BackendStats, rules: RollbackRules) -> str | None:
    """A rollback reason when the window's error rate breaks the rule, else None.

    The rule is judged only once the window holds ``min_requests`` requests, so a single
    early error on a quiet service does not roll it back.
    """
    if window.requests < rules.min_requests:
        return None
    if window.error_rate > rules.error_rate:
        return (
            f"error rate {window.error_rate:.1%} over {window.requests} requests "
            f"exceeds the {rules.error_rate:.1%} threshold"
        )
    return None


def health_score(window: BackendStats) -> float:
    """1.00 for a window without errors, falling with the error rate."""
    return round(1.0 - window.error_rate, 2)
