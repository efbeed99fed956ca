"""The ``[jobs]`` table of safeship.toml: the background jobs `safeship serve` runs.

[jobs.outbox]
enabled = true          # deliver the alerts outbox (what `safeship notify flush` does)
every = 5.0             # seconds between two passes

[jobs.drift]
enabled = true          # compare each environment's live variables with the schema and snapshot
at = "04:00"            # once a day at this UTC time (HH:MM); "" for every `every` seconds
every = 86400.0         # seconds between two checks when `at` is ""
environments = []       # the environments checked (empty: every one the schema declares)

[jobs.watch]
enabled = true          # `safeship watch` of each serving environment, in the background
environments = []       # the environments watched (empty: every configured one)

[jobs.drill]
enabled = true          # rollback drills (`safeship drill ENV`) on a schedule
every = 2592000.0       # seconds between two drills of an environment (30 days)
environments = ["staging"]   # the environments drilled

[jobs.outage]
enabled = true          # the availability probe of each environment (outage mode)
every = 60.0            # seconds between two probes
environments = []       # the environments probed (empty: every configured one)

[jobs.rotation]
enabled = true          # secret rotation: due reminders and finishing rotations past their grace
every = 3600.0          # seconds between two passes (one process of those sharing the registry)

The rotation job (docs/secrets.md): each pass raises ``secret.rotation_due`` for every secret of
``[secrets.rotate]`` that is due, overdue or never rotated in one of its environments (once:
not again while it fires, unless it got worse), resolves it once the secret is rotated, and
finishes the rotations whose grace period is over (`safeship secrets finish`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo

from safeship.settings_model import SettingsModel

_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _time_of_day(text: str) -> str:
    if text and not _TIME_OF_DAY.fullmatch(text):
        raise ValueError(f"{text!r} is not a time of day HH:MM (24-hour, UTC), nor empty")
    return text


class OutboxJobSettings(SettingsModel):
    # Deliver the pending alert notifications in the background.
    enabled: bool = True
    # Seconds between two deliveries of the outbox.
    every: float = Field(default=5.0, ge=0.5, le=3600)


class DriftJobSettings(SettingsModel):
    # Check the environments' variables against the schema and the last snapshot.
    enabled: bool = True
    # The UTC time of day (HH:MM) of the daily check; empty: every `every` seconds instead.
    at: Annotated[str, AfterValidator(_time_of_day)] = "04:00"
    # Seconds between two checks when `at` is empty.
    every: float = Field(default=86_400.0, ge=60, le=31 * 86_400)
    # The environments checked (empty: every configured environment the schema declares).
    environments: list[str] = Field(default_factory=list)


class WatchJobSettings(SettingsModel):
    # Watch each serving environment between deploys (intervals from [watch]).
    enabled: bool = True
    # The environments watched (empty: every configured environment).
    environments: list[str] = Field(default_factory=list)


class DrillJobSettings(SettingsModel):
    # Rollback drills on a schedule: back to the previous good version and forward again.
    enabled: bool = True
    # Seconds between two drills of an environment (default 30 days).
    every: float = Field(default=30 * 86_400.0, ge=3600, le=366 * 86_400)
    # The environments drilled (each one that is configured; an approval gate there makes the
    # forward leg wait for approval).
    environments: list[str] = Field(default_factory=lambda: ["staging"])


class OutageJobSettings(SettingsModel):
    # Probe each environment's availability; pause deploys while it fails.
    enabled: bool = True
    # Seconds between two probes.
    every: float = Field(default=60.0, ge=5, le=86_400)
    # The environments probed (empty: every configured environment with a probe).
    environments: list[str] = Field(default_factory=list)


class RotationJobSettings(SettingsModel):
    # Remind of secrets due for rotation; finish rotations whose grace period is over.
    enabled: bool = True
    # Seconds between two passes (a pass is claimed by one of the processes sharing the registry).
    every: float = Field(default=3600.0, ge=60, le=7 * 86_400)


class JobsSettings(SettingsModel):
    outbox: OutboxJobSettings = Field(default_factory=OutboxJobSettings)
    drift: DriftJobSettings = Field(default_factory=DriftJobSettings)
    watch: WatchJobSettings = Field(default_factory=WatchJobSettings)
    drill: DrillJobSettings = Field(default_factory=DrillJobSettings)
    outage: OutageJobSettings = Field(default_factory=OutageJobSettings)
    rotation: RotationJobSettings = Field(default_factory=RotationJobSettings)


def _environments_configured(settings: JobsSettings, info: ValidationInfo) -> JobsSettings:
    """A job's environment must be an ``[environments.NAME]`` table of the same file."""
    environments: Any = info.data.get("environments")
    if environments is None:  # [environments] itself is wrong: that error is reported already
        return settings
    for job, names in (
        ("drift", settings.drift.environments),
        ("watch", settings.watch.environments),
        ("outage", settings.outage.environments),
    ):
        for name in names:
            if name not in environments:
                known = ", ".join(environments) or "none"
                raise ValueError(
                    f"jobs.{job}.environments: no environment {name!r} is configured "
                    f"(configured: {known})"
                )
    return settings


# SafeshipConfig's ``jobs`` field: declared after ``environments``, so the check sees them.
JobsTable = Annotated[JobsSettings, AfterValidator(_environments_configured)]
