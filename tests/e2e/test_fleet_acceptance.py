"""Acceptance (issue 17): a canary across three hosts through HAProxy under 200 req/s, and the
automatic rollback of a bad release, with the stable release answering every request it gets.

The hosts are network namespaces with their own sshd (testing/fleet_hosts.py); the releases
are the fleet app's tarballs, shipped and started over SSH by the ssh target; HAProxy splits
the traffic. Two bad releases, as on one machine: one crashes on one host mid-canary (out of
traffic within 5 s), one answers half its requests with 500 (within 30 s).

About 25 s: three deploys with bakes, under load; it is the issue's acceptance.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from safeship.demo.load import LoadGenerator
from safeship.pipeline import operations
from safeship.pipeline.rollout.outcome import DeploymentOutcome
from safeship.pipeline.states import Status
from testing.fleet_hosts import FakeHosts
from testing.fleet_rig import ENV, make_fleet_workspace

pytestmark = pytest.mark.timeout(240)


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def at(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


def first(found: list[dict[str, object]], name: str) -> dict[str, object]:
    return next(e for e in found if e["event"] == name)


def test_a_three_host_canary_rolls_back_a_crash_and_an_error_rate_under_200_rps(
    fleet_hosts: FakeHosts, tmp_path: Path, load_factory: Callable[..., LoadGenerator]
) -> None:
    ws = make_fleet_workspace(
        tmp_path / "ws", fleet_hosts, ("v1", "v2", "v3-errors"), bake_time=0.5
    )
    try:
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        stable = ws.release("v1")
        assert stable is not None and stable.hosts == ("h1", "h2", "h3")
        load = load_factory(ws.url, rate=200)
        time.sleep(1.0)

        # A release that crashes on one host mid-canary: rolled back on every host.
        log = tmp_path / "v2.jsonl"
        outcome: list[DeploymentOutcome] = []
        ws.set_bake_time(10)
        deploy = threading.Thread(
            target=lambda: outcome.append(
                operations.deploy(ws.loaded, ENV, "v2", event_log=log.open("w"))
            ),
            daemon=True,
        )
        deploy.start()
        deadline = time.monotonic() + 30
        while load.snapshot().ok.get("v2", 0) < 20:
            assert time.monotonic() < deadline and deploy.is_alive(), "v2 never took traffic"
            time.sleep(0.05)
        canary = ws.release("v2")
        assert canary is not None and canary.hosts == ("h1", "h2", "h3")
        on_h2 = next(i for i in canary.instances if i.host == "h2")
        crashed_at = time.time()
        with contextlib.suppress(httpx.HTTPError):  # it exits before it answers
            httpx.get(on_h2.url + "/crash", timeout=2)
        deploy.join(60)
        assert outcome and outcome[0].status is Status.ROLLED_BACK, outcome
        # The process check (twice a second), or the rules on the requests cut by the crash.
        assert "exited" in (outcome[0].reason or "") or "error rate" in (outcome[0].reason or "")
        found = events(log)
        crash_out = at(first(found, "rollback.triggered")) - crashed_at
        assert crash_out < 5, f"the crashed release left traffic after {crash_out:.1f} s"
        assert ws.release("v2") is None  # stopped on every host

        # A release whose error rate is too high: rolled back by the rule.
        log = tmp_path / "v3.jsonl"
        ws.set_bake_time(3)
        result = operations.deploy(ws.loaded, ENV, "v3-errors", event_log=log.open("w"))
        assert result.status is Status.ROLLED_BACK and "error rate" in (result.reason or "")
        found = events(log)
        shifted = at(first(found, "traffic.shifted"))
        errors_out = at(first(found, "rollback.triggered")) - shifted
        assert errors_out < 30, f"the failing release left traffic after {errors_out:.1f} s"

        time.sleep(0.5)
        totals = load.stop()
        assert totals.ok.get("v1", 0) > 1000
        assert totals.failed.get("v1", 0) == 0, totals  # the stable answered every request
        print(
            f"\nstable v1: {totals.ok['v1']} ok, 0 failed; crash out of traffic in "
            f"{crash_out:.1f} s, error rate in {errors_out:.1f} s; "
            f"bad releases: ok {dict(totals.ok)}, failed {dict(totals.failed)}"
        )
    finally:
        ws.down()
