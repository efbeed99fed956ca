"""The ``[analytics]`` table of safeship.toml: which environments DORA is computed for, and the
price of a CI minute (CI cost per deployment, wasted CI minutes).

[analytics]
production = ["production"]     # default: [alerts].production
staging = ["staging"]            # "caught before production", "time to deploy staging"
[analytics.ci_price_per_minute]
github-actions = 0.008           # USD per minute
circleci = 0.006
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from safeship.settings_model import SettingsModel

# USD per minute of the cheapest hosted Linux runner of each CI path, as the providers list
# them (change them to your plan's figures):
# - GitHub Actions, standard Linux 2-core runner: $0.008 per minute
#   (https://docs.github.com/en/billing/reference/actions-minute-multipliers);
# - CircleCI, Docker medium (2 vCPU) resource class: 10 credits per minute at $0.0006 per credit
#   ($15 for 25,000 credits) = $0.006 per minute (https://circleci.com/pricing/price-list/).
DEFAULT_CI_PRICES: dict[str, float] = {"github-actions": 0.008, "circleci": 0.006}

Price = Annotated[float, Field(ge=0, le=100)]


class AnalyticsSettings(SettingsModel):
    # Environments the DORA measures are computed for when no environment is named (None:
    # [alerts].production, itself "production" and "prod" by default).
    production: list[str] | None = None
    # Environments that stand before production: "failures caught before production" counts
    # their failures, "time to deploy staging" their deployments.
    staging: list[str] = Field(default_factory=lambda: ["staging"])
    # USD per CI minute, per deploy path (github-actions, circleci); a path not listed costs 0.
    ci_price_per_minute: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_CI_PRICES))
    # Minutes of CI a failed build costs a developer when the pre-push gate prevents it (the
    # architecture's §9: "(failed CI builds prevented) * 15 minutes").
    prepush_minutes_saved: Annotated[float, Field(ge=0, le=1440)] = 15.0
