"""``[environments.X.outage]``: the availability probe of outage mode::

    [environments.production.outage]
    status_url = "https://status.example.com/api/v2/status.json"   # a status page, or ""
    statuspage = true       # read its Statuspage.io JSON: status.indicator none/minor = up
    probe_timeout = 5.0     # seconds one probe may take
    failures = 3            # consecutive failed probes before deploys are paused

Without ``status_url`` the probe asks the platform's API where the target has one (a railway
target: its GraphQL endpoint answers at all), and there is none for a local or command target.
The probe and the pause: :mod:`safeship.pipeline.outage`; the gate: :mod:`safeship.gates.outage`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from safeship.settings_model import SettingsModel


def _http_url(text: str) -> str:
    if text and not text.startswith(("http://", "https://")):
        raise ValueError(f"{text!r} is not an http:// or https:// URL, nor empty")
    return text


class OutageSettings(SettingsModel):
    # Probe this environment's availability at all (the [jobs.outage] job, `safeship outage`).
    enabled: bool = True
    # A status page to probe (HTTP GET, 2xx = up); empty: the platform's API, where there is one.
    status_url: Annotated[str, AfterValidator(_http_url), Field(max_length=2000)] = ""
    # The status page is a Statuspage.io JSON (/api/v2/status.json): status.indicator "none" or
    # "minor" is up, "major" or "critical" down.
    statuspage: bool = False
    # Seconds one probe may take before it counts as failed.
    probe_timeout: float = Field(default=5.0, gt=0, le=120)
    # Consecutive failed probes before deploys to the environment are paused.
    failures: int = Field(default=3, ge=1, le=100)
