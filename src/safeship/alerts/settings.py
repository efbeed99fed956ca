"""The ``[alerts]`` table of safeship.toml: which environments are production, grouping and
retry timings, and the routes that send each alert to its channels.

[alerts]
production = ["production", "prod"]   # environments whose alerts are more severe
group_wait = 1.0                      # seconds a new group waits for more alerts
group_interval = 1.0                  # shortest gap between two messages of one group
repeat_interval = 14400.0             # a condition still firing is re-sent after this
retries = 3                           # attempts per channel after the first
max_retry_wait = 30.0                 # longest wait between two attempts (Retry-After capped)
give_up_after = 86400.0               # a channel down this long: its notifications failed

[[alerts.routes]]
conditions = ["rollback.triggered", "deployment.failed"]   # default: all; "secret.*": a family
environments = ["production"]                               # default: all
min_severity = "error"                                      # default: info
channels = ["pagerduty", "slack"]                           # the first, then the next on failure
continue = true                                             # match further routes too
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo

from safeship.notify.base import CONDITIONS, Severity
from safeship.settings_model import SettingsModel


def _condition_or_family(text: str) -> str:
    """A condition (``secret.rotated``) or a family of them (``secret.*``: every condition
    whose name starts with ``secret.``)."""
    if text in CONDITIONS:
        return text
    if text.endswith(".*") and any(c.startswith(text[:-1]) for c in CONDITIONS):
        return text
    families = sorted({c.split(".")[0] + ".*" for c in CONDITIONS if "." in c})
    raise ValueError(
        f"{text!r} is not a condition (expected one of: {', '.join(CONDITIONS)}; "
        f"or a family: {', '.join(families)})"
    )


ConditionPattern = Annotated[str, AfterValidator(_condition_or_family)]


class RouteSettings(SettingsModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, populate_by_name=True)

    # The conditions this route takes (empty: every one); "secret.*" takes a family.
    conditions: list[ConditionPattern] = Field(default_factory=list)
    # The environments this route takes (empty: every one).
    environments: list[str] = Field(default_factory=list)
    # The least severe alert it takes (info, warning, error, critical).
    min_severity: Severity = "info"
    # In order: the first is tried; when its retries fail, the next (a fallback).
    channels: Annotated[list[str], Field(min_length=1)]
    # Match the routes after this one too (else the first matching route is the last).
    continue_: bool = Field(default=False, alias="continue")


class AlertSettings(SettingsModel):
    # Environments whose failures and rollbacks are critical (elsewhere: error).
    production: list[str] = Field(default_factory=lambda: ["production", "prod"])
    # Seconds a new group (channel, environment) waits for more alerts before its message
    # goes (1 s: every channel hears of a rollback within 2 s).
    group_wait: Annotated[float, Field(ge=0, le=600)] = 1.0
    # Shortest gap, in seconds, between two messages of one group.
    group_interval: Annotated[float, Field(ge=0, le=3600)] = 1.0
    # Seconds before a condition still firing is sent again (a re-raise sooner is folded).
    repeat_interval: Annotated[float, Field(ge=0)] = 4 * 3600.0
    # Attempts per channel after the first; then the route's next channel. With none left, a
    # channel that is down (no answer, 5xx, 429) is tried again every max_retry_wait seconds,
    # by this process or the next, until give_up_after; one that refuses (a 4xx) is failed.
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    # The longest wait between two attempts, in seconds (a longer Retry-After is cut to it).
    max_retry_wait: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # Seconds after which a notification its channel never took is marked failed (one day).
    give_up_after: Annotated[float, Field(gt=0, le=30 * 86400)] = 86400.0
    # How long a command waits at its end for what is ripe to be delivered; the rest stays
    # pending for the next safeship process.
    close_timeout: Annotated[float, Field(ge=0, le=120)] = 5.0
    # A link to a deployment's page, shown with each alert: {environment} and {deployment_id}
    # are replaced (an alert without a deployment links to {environment}'s page: the URL is
    # cut at {deployment_id}).
    dashboard_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    # Where each alert goes; none: the defaults (docs/observability.md).
    routes: list[RouteSettings] = Field(default_factory=list)


def _routes_name_configured_channels(
    settings: AlertSettings, info: ValidationInfo
) -> AlertSettings:
    """A route's channel must be a ``[notify.NAME]`` table of the same file."""
    notify: Any = info.data.get("notify")
    if notify is None:  # [notify] itself is wrong: that error is reported already
        return settings
    configured = set(notify.sections())
    for index, route in enumerate(settings.routes):
        for channel in route.channels:
            if channel not in configured:
                known = ", ".join(sorted(configured)) or "none"
                raise ValueError(
                    f"alerts.routes.{index}.channels: no channel {channel!r} is configured "
                    f"(configured: {known}; add a [notify.{channel}] table)"
                )
    return settings


# SafeshipConfig's ``alerts`` field: declared after ``notify``, so the check sees its tables.
AlertsTable = Annotated[AlertSettings, AfterValidator(_routes_name_configured_channels)]
