"""Outage mode against a loopback status page (statuspage_api.py, from developer.statuspage.io):
the probe's reading of a page and of the Statuspage JSON; then, on the demo service for real,
failed probes pause the environment with an alert, a deploy is refused in one line, an
emergency deploy goes through with the pause noted, and the page answering again lifts the
pause with an alert."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from railway_api import RailwayServer
from statuspage_api import StatuspageServer

from safeship import core
from safeship.config.models import SafeshipConfig
from safeship.pipeline import operations, paths_deploy
from safeship.pipeline.outage import Probe, probe_of, run_probe
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace


@pytest.fixture
def status_page() -> Iterator[StatuspageServer]:
    server = StatuspageServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("indicator", "up", "detail"),
    [
        ("none", True, "status.indicator none (All Systems Operational)"),
        ("minor", True, "status.indicator minor (Minor Service Outage)"),
        ("major", False, "status.indicator major (Partial System Outage)"),
        ("critical", False, "status.indicator critical (Major Service Outage)"),
        ("maintenance", False, "not a Statuspage status.json: status.indicator 'maintenance'"),
    ],
)
def test_the_statuspage_indicator_decides(
    status_page: StatuspageServer, indicator: str, up: bool, detail: str
) -> None:
    status_page.indicator = indicator

    answer = run_probe(Probe("statuspage", status_page.status_json_url, 2.0))

    assert (answer.up, answer.detail) == (up, detail)
    [request] = status_page.received
    assert (request.method, request.path) == ("GET", "/api/v2/status.json")


def test_a_plain_page_is_up_on_2xx_and_down_on_errors_or_silence(
    status_page: StatuspageServer,
) -> None:
    probe = Probe("status_page", status_page.page_url, 0.5)
    assert (run_probe(probe).up, run_probe(probe).detail) == (True, "HTTP 200")
    status_page.fail("503")
    assert (run_probe(probe).up, run_probe(probe).up) == (False, True)
    status_page.fail("hang")
    hung = run_probe(probe)
    assert (hung.up, hung.detail) == (False, "no answer within 0.5 s")
    assert hung.seconds < 1.5
    closed = run_probe(Probe("status_page", "http://user:pw@127.0.0.1:9/?token=t", 0.5))
    assert not closed.up and closed.detail.startswith("unreachable: ConnectError")
    assert Probe("status_page", "http://user:pw@h.example:8/s?token=t", 1).shown == (
        "http://h.example:8/s"
    )


def test_a_railway_target_is_probed_at_its_api_without_a_token(railway_api: RailwayServer) -> None:
    endpoint = f"{railway_api.url}/graphql/v2"
    config = SafeshipConfig.model_validate(
        {
            "environments": {
                "production": {
                    "target": {"type": "railway", "endpoint": endpoint, "project_id": "p",
                               "environment_id": "e", "service_id": "s"},
                    "outage": {"probe_timeout": 0.5},
                },
                "local": {"port": 18412, "target": {"command": ["true"]}},
            }
        }
    )  # fmt: skip
    probe = probe_of(config.environments["production"])
    assert probe == Probe("platform", endpoint, 0.5)
    assert probe_of(config.environments["local"]) is None  # a local target: no probe

    answered = run_probe(probe)  # any answer below 500 is the API up (here: no token, 4xx)
    assert answered.up and answered.detail.startswith("HTTP 4")
    railway_api.fail("503", times=None)
    assert (run_probe(probe).up, run_probe(probe).detail) == (False, "HTTP 503")
    assert all("Authorization" not in r.headers for r in railway_api.received)


def test_failed_probes_pause_deploys_but_emergency_ones_and_the_answer_lifts_it(
    status_page: StatuspageServer, workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(
        strategy="all-at-once",
        bake_time=0.2,
        tables=(
            "\n[environments.local.outage]\n"
            f'status_url = "{status_page.status_json_url}"\n'
            "statuspage = true\nfailures = 2\nprobe_timeout = 2.0\n"
        ),
    )
    config = str(ws.root / "safeship.toml")
    status_page.indicator = "major"

    # The first failure counts (the serve job's run), the second pauses (the command's).
    job = core.run_job(ws.loaded, "outage")
    assert job.last_ok, job.last_error
    [state] = core.outage_status(ws.loaded, [ENV])
    assert (state.failures, state.paused_since) == (1, None)
    done = subprocess.run(
        [sys.executable, "-m", "safeship", "outage", "check", ENV, "--config", config],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    line = done.stdout.strip()
    assert line.startswith(
        f"{ENV}: {status_page.status_json_url} DOWN (status.indicator major (Partial System "
        "Outage), "
    )
    assert line.endswith(" s); deploys PAUSED after 2 failed probes in a row")
    with Registry(ws.loaded.registry_url()) as registry:
        pause = registry.environment_pause(ENV)
        assert pause is not None and pause.since is not None
        assert [a.condition for a in registry.firing_alerts(ENV)] == ["outage.paused"]
        assert "outage.paused" in [e.name for e in registry.events(None)]

    refused = operations.deploy(ws.loaded, ENV, "v1")
    assert refused.status is Status.FAILED
    since = f"{pause.since:%Y-%m-%d %H:%M:%S} UTC"
    assert refused.reason == (
        f"outage gate: {ENV} is paused since {since}: {status_page.status_json_url}: "
        "status.indicator major (Partial System Outage) (outage mode; `safeship deploy "
        "--emergency` goes through)"
    )
    assert not ws.environment().target.releases()

    emergency = paths_deploy.emergency_deploy(ws.loaded, ENV, "v1")
    assert emergency.status is Status.SUCCEEDED, emergency.reason
    with Registry(ws.loaded.registry_url()) as registry:
        [gate] = registry.gate_results(emergency.deployment_id)
    assert (gate.gate, gate.outcome) == ("outage", "passed")
    assert gate.reason is not None and "an emergency deploy goes through" in gate.reason
    assert gate.figures["emergency"] is True

    status_page.indicator = "none"
    [resumed] = core.outage_check(ws.loaded, [ENV])
    assert (resumed.up, resumed.change, resumed.paused_since) == (True, "resumed", None)
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.environment_pause(ENV) is None
        assert registry.firing_alerts(ENV) == []
        events = [e.name for e in registry.events(None)]
    assert events.count("outage.resumed") == 1
    assert operations.deploy(ws.loaded, ENV, "v2").status is Status.SUCCEEDED
