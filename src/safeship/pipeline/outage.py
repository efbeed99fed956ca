"""Outage mode: an environment's availability probe, and the pause of its deploys.

The probe is the environment's status page (``[environments.X.outage] status_url``: HTTP GET,
2xx is up; with ``statuspage = true`` the Statuspage.io JSON's ``status.indicator`` decides:
none/minor up, major/critical down; see https://developer.statuspage.io), else the platform's
API where the target has one (a railway target: its GraphQL endpoint answers at all, any
status below 500), else none. ``failures`` failed probes in a row pause the environment's
deploys (the registry's ``environment_pauses``; the outage gate refuses all but emergency
deploys) with ``outage.paused``; the first probe that answers again lifts the pause with
``outage.resumed``. Both events are environment-level and become alerts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from safeship.config import LoadedConfig
from safeship.events import Event, EventBus
from safeship.gates.outage import probed
from safeship.redaction import redact

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.registry import Registry

TRIGGERED_BY = "outage mode"
# Statuspage.io's status.indicator values a page is still up with (developer.statuspage.io:
# "none", "minor", "major", "critical").
_UP_INDICATORS = frozenset({"none", "minor"})
_DOWN_INDICATORS = frozenset({"major", "critical"})
_MAX_DETAIL = 200

ProbeKind = Literal["status_page", "statuspage", "platform"]


@dataclass(frozen=True)
class Probe:
    kind: ProbeKind
    url: str
    timeout: float

    @property
    def shown(self) -> str:
        """The URL without credentials nor query (either may hold a token)."""
        return shown_url(self.url)


@dataclass(frozen=True)
class ProbeAnswer:
    up: bool
    detail: str  # one line: "HTTP 200", "status.indicator major (Partial System Outage)", ...
    seconds: float


@dataclass(frozen=True)
class OutageCheck:
    """One probe of one environment, and what it changed."""

    environment: str
    probe: Probe | None  # None: the environment has no probe (nothing was checked)
    answer: ProbeAnswer | None
    failures: int  # consecutive failed probes now (0 when it answered)
    threshold: int
    paused_since: datetime | None  # deploys paused since then (None: not paused)
    change: Literal["paused", "resumed"] | None = None


def probe_of(settings: EnvironmentSettings) -> Probe | None:
    """The environment's probe, or None (see the module's docstring)."""
    if not probed(settings):
        return None
    outage = settings.outage
    if outage.status_url:
        kind: ProbeKind = "statuspage" if outage.statuspage else "status_page"
        return Probe(kind, outage.status_url, outage.probe_timeout)
    endpoint: str = getattr(settings.target, "endpoint", "")
    return Probe("platform", endpoint, outage.probe_timeout)


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def run_probe(probe: Probe) -> ProbeAnswer:
    """Ask once, within the probe's timeout; never raises for an answer it does not like."""
    import httpx

    started = time.monotonic()
    try:
        with httpx.Client(timeout=probe.timeout, follow_redirects=True) as client:
            if probe.kind == "platform":
                # Reachability only: any GraphQL answer (even "not authorized") is the API up.
                response = client.post(
                    probe.url, json={"query": "query { __typename }", "variables": {}}
                )
                up = response.status_code < 500
                detail = f"HTTP {response.status_code}"
            else:
                response = client.get(probe.url, headers={"Accept": "application/json"})
                up, detail = _page_answer(probe, response)
    except httpx.TimeoutException:
        up, detail = False, f"no answer within {probe.timeout:g} s"
    except httpx.HTTPError as exc:
        up, detail = False, f"unreachable: {type(exc).__name__}: {exc}"
    return ProbeAnswer(up, _one_line(detail), time.monotonic() - started)


def _page_answer(probe: Probe, response: object) -> tuple[bool, str]:
    import httpx

    assert isinstance(response, httpx.Response)
    status = response.status_code
    if not 200 <= status < 300:
        return False, f"HTTP {status}"
    if probe.kind != "statuspage":
        return True, f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        return False, "not a Statuspage status.json: not JSON"
    block = body.get("status") if isinstance(body, dict) else None
    indicator = block.get("indicator") if isinstance(block, dict) else None
    description = block.get("description") if isinstance(block, dict) else None
    said = f" ({description})" if isinstance(description, str) and description else ""
    if indicator in _UP_INDICATORS:
        return True, f"status.indicator {indicator}{said}"
    if indicator in _DOWN_INDICATORS:
        return False, f"status.indicator {indicator}{said}"
    return False, f"not a Statuspage status.json: status.indicator {indicator!r}"


def check_outage(
    environment: str,
    settings: EnvironmentSettings,
    registry: Registry,
    bus: EventBus,
    *,
    min_gap: float = 0.0,
) -> OutageCheck:
    """Probe ``environment`` once and record it: pause its deploys after ``failures`` failed
    probes in a row (``outage.paused``), lift the pause when it answers (``outage.resumed``).
    ``min_gap``: see ``Registry.record_probe_failure``."""
    probe = probe_of(settings)
    threshold = settings.outage.failures
    if probe is None:
        pause = registry.environment_pause(environment)
        return OutageCheck(environment, None, None, 0, threshold, pause.since if pause else None)
    answer = run_probe(probe)
    if answer.up:
        recorded = registry.record_probe_success(environment)
        lifted = recorded.lifted
        if lifted is None:
            return OutageCheck(environment, probe, answer, 0, threshold, None)
        was = f"{lifted.since:%Y-%m-%d %H:%M:%S} UTC" if lifted.since else "?"
        _publish(
            bus, "outage.resumed", environment,
            summary=f"deploys resumed: {probe.shown} answers again ({answer.detail}); "
            f"paused since {was}",
            probe=probe.shown, detail=answer.detail,
            paused_since=lifted.since.isoformat() if lifted.since else None,
        )  # fmt: skip
        return OutageCheck(environment, probe, answer, 0, threshold, None, "resumed")
    reason = f"{probe.shown}: {answer.detail}"
    failed = registry.record_probe_failure(environment, reason, threshold, min_gap=min_gap)
    pause = failed.pause
    failures = pause.failures if pause else 1
    since = pause.since if pause else None
    if failed.paused_now and since is not None:
        _publish(
            bus, "outage.paused", environment,
            summary=f"deploys paused: {reason} ({failures} failed probes in a row); "
            "emergency deploys still go through",
            probe=probe.shown, detail=answer.detail, failures=failures,
            since=since.isoformat(),
        )  # fmt: skip
        return OutageCheck(environment, probe, answer, failures, threshold, since, "paused")
    return OutageCheck(environment, probe, answer, failures, threshold, since)


def _publish(bus: EventBus, name: Literal["outage.paused", "outage.resumed"], environment: str,
             **attributes: object) -> None:  # fmt: skip
    bus.publish(
        Event(
            event=name,
            environment=environment,
            triggered_by=TRIGGERED_BY,
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
    )


def _one_line(text: str) -> str:
    line = " ".join(redact(text).split())
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "…"


def check_environments(
    loaded: LoadedConfig,
    environments: Sequence[str],
    *,
    min_gap: float = 0.0,
    deliver: bool = True,
) -> list[OutageCheck]:
    """Probe each environment once, recording the results and publishing the events to the
    registry's event log and the alerts. ``deliver``: send the alerts now (`safeship outage
    check`); else they wait in the outbox for its job (`safeship serve`)."""
    from safeship.alerts.service import start_alerting
    from safeship.events import RegistrySink
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        alerting = start_alerting(loaded.config, registry, channels=None if deliver else {})
        try:
            bus = EventBus([RegistrySink(registry), alerting.sink])
            return [
                check_outage(name, loaded.config.environments[name], registry, bus, min_gap=min_gap)
                for name in environments
            ]
        finally:
            alerting.close(None if deliver else 0)
