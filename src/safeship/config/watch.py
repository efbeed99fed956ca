"""The ``[watch]`` table of safeship.toml: `safeship watch` between deploys.

Each interval the serving release's health (levels 1-2) is checked, and its error rate and
p95 latency over the interval compared with the last good deployment's: a condition that
begins is published as ``watch.degraded``, one that clears as ``watch.recovered``.
"""

from __future__ import annotations

from pydantic import Field

from safeship.settings_model import SettingsModel


class WatchSettings(SettingsModel):
    # Seconds between two checks.
    interval: float = Field(default=60.0, gt=0, le=86_400)
    # Seconds between two checks while the environment's last deploy is recent (elevated_window).
    elevated_interval: float = Field(default=10.0, gt=0, le=86_400)
    # How long (seconds) after a deploy to the environment completed the elevated interval
    # applies: the architecture's 15 minutes.
    elevated_window: float = Field(default=900.0, ge=0, le=7 * 86_400)
    # error_rate.high: the interval's share of 5xx and connection errors is over this.
    error_rate: float = Field(default=0.05, ge=0, le=1)
    # latency.high: the interval's p95 latency is over this many times the baseline's p95.
    latency_ratio: float = Field(default=2.0, gt=1)
    # Fewer requests than this in an interval: its error rate and latency are not judged.
    min_requests: int = Field(default=10, ge=1)
