"""A deploy across hosts and the faults it must survive (issue 17): batches, a host's link
taken down mid-canary (within max_unavailable, and beyond it), a changed host key, an SSH
key the hosts refuse, and the deploying process killed between batches, then recovered.

Real sshd hosts in network namespaces, the ssh target, HAProxy; each test ends with the
environment consistent: every host in traffic runs the stable release, nothing else runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from safeship import core
from safeship.demo.load import LoadGenerator
from safeship.pipeline import operations
from safeship.pipeline.environment import open_environment
from safeship.pipeline.rollout.outcome import DeploymentOutcome
from safeship.pipeline.states import Status
from safeship.registry import Registry
from safeship.targets.base import TargetError
from testing.fleet_hosts import FakeHosts, make_fake_hosts
from testing.fleet_rig import ENV, FleetWorkspace, make_fleet_workspace

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def own_hosts(tmp_path: Path) -> Iterator[FakeHosts]:
    """Three hosts of this test's own (it cuts links and changes keys)."""
    with make_fake_hosts(3, tmp_path / "hosts") as hosts:
        yield hosts


def names(log: Path) -> list[str]:
    """The events' names in an event log (JSON lines; a line being written is skipped)."""
    found = []
    for line in log.read_text().splitlines():
        try:
            found.append(json.loads(line)["event"])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def served_by(ws: FleetWorkspace) -> dict[str, list[str]]:
    """Release -> the hosts its servers in the router are on, for the releases with weight."""
    router = open_environment(ws.loaded, ENV).router
    return {b.name: sorted(s.host for s in b.servers) for b in router.backends() if b.weight > 0}


def test_batches_start_the_release_host_by_host_after_the_canary_host(
    fleet_hosts: FakeHosts, tmp_path: Path
) -> None:
    ws = make_fleet_workspace(
        tmp_path / "ws",
        fleet_hosts,
        ("v1", "v2"),
        bake_time=0.2,
        steps=(50, 100),
        canary_hosts=["h2"],
        batch_size=1,
    )
    try:
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        log = tmp_path / "v2.jsonl"
        outcome = operations.deploy(ws.loaded, ENV, "v2", event_log=log.open("w"))
        assert outcome.ok, outcome.reason
        found = [json.loads(line) for line in log.read_text().splitlines()]
        batches = [e["attributes"]["hosts"] for e in found if e["event"] == "batch.passed"]
        assert batches == [["h1"], ["h3"]]
        # The canary step ran on h2 alone, before any batch.
        first_batch = names(log).index("batch.started")
        assert names(log).index("traffic.shifted") < first_batch
        assert served_by(ws) == {"v2": ["h1", "h2", "h3"]}
        assert ws.release("v1") is None
        (status,) = core.status(ws.loaded, ENV)
        (release,) = status.releases
        assert release.alive and [i.host for i in release.instances] == ["h1", "h2", "h3"]
    finally:
        ws.down()


def deploy_in_thread(
    ws: FleetWorkspace, version: str, log: Path
) -> tuple[threading.Thread, list[DeploymentOutcome]]:
    outcome: list[DeploymentOutcome] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            operations.deploy(ws.loaded, ENV, version, event_log=log.open("w"))
        ),
        daemon=True,
    )
    thread.start()
    return thread, outcome


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("max_unavailable", [1, 0])
def test_a_host_whose_link_goes_down_mid_canary_is_taken_out_of_traffic(
    own_hosts: FakeHosts,
    tmp_path: Path,
    load_factory: Callable[..., LoadGenerator],
    max_unavailable: int,
) -> None:
    ws = make_fleet_workspace(
        tmp_path / "ws",
        own_hosts,
        ("v1", "v2"),
        bake_time=0.2,
        steps=(20, 100),
        max_unavailable=max_unavailable,
    )
    try:
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        ws.set_bake_time(6)
        load = load_factory(ws.url, rate=50)
        log = tmp_path / "v2.jsonl"
        thread, outcome = deploy_in_thread(ws, "v2", log)
        wait_for(lambda: load.snapshot().ok.get("v2", 0) >= 5, "v2 to take traffic")
        own_hosts.link_down("h3")
        thread.join(60)
        totals = load.stop()
        assert outcome, "the deploy did not end"
        assert "host.unavailable" in names(log)
        if max_unavailable:
            assert outcome[0].ok, outcome[0].reason
            assert served_by(ws) == {"v2": ["h1", "h2"]}
        else:
            assert outcome[0].status is Status.ROLLED_BACK
            assert "host h3 unavailable" in (outcome[0].reason or "")
            assert "max_unavailable is 0" in (outcome[0].reason or "")
            assert set(served_by(ws)) == {"v1"}
        # Requests on h3's servers were retried elsewhere: the stable lost none.
        assert totals.failed.get("v1", 0) == 0, totals
    finally:
        own_hosts.link_up("h3")
        ws.down()


def test_a_changed_host_key_or_a_refused_key_fails_the_deploy_before_traffic(
    own_hosts: FakeHosts, tmp_path: Path
) -> None:
    ws = make_fleet_workspace(tmp_path / "ws", own_hosts, ("v1", "v2"), bake_time=0.2)
    try:
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        own_hosts.new_host_key("h2")
        # Refused before a deployment starts (the deploy's cleanup of the hosts asks h2 first).
        with pytest.raises(TargetError) as changed:
            operations.deploy(ws.loaded, ENV, "v2")
        reason = str(changed.value)
        assert "h2" in reason and "host key changed" in reason and "\n" not in reason
        assert "safeship hosts trust production" in reason
        assert set(served_by(ws)) == {"v1"}

        stranger = tmp_path / "stranger"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True
        )
        other = make_fleet_workspace(
            tmp_path / "other",
            own_hosts,
            ("v2",),
            setup=False,
            identity_files=[str(stranger)],
            remote_dir=str(tmp_path / "other-remote" / "{host}"),
        )
        with pytest.raises(TargetError) as refused:
            operations.deploy(other.loaded, ENV, "v2")
        assert "h1: SSH authentication failed for user root" in str(refused.value)
        assert "\n" not in str(refused.value)
        assert set(served_by(ws)) == {"v1"}
    finally:
        ws.down()


def test_a_deploy_killed_between_batches_is_recovered_on_every_host(
    fleet_hosts: FakeHosts, tmp_path: Path, load_factory: Callable[..., LoadGenerator]
) -> None:
    ws = make_fleet_workspace(
        tmp_path / "ws",
        fleet_hosts,
        ("v1", "v2"),
        bake_time=0.2,
        steps=(100,),  # no canary step: the batches start at once
        canary_hosts=1,
        batch_size=1,
    )
    try:
        assert operations.deploy(ws.loaded, ENV, "v1").ok
        ws.set_bake_time(30)  # the first batch's bake holds the deploy between batches
        load = load_factory(ws.url, rate=30)
        deploying = subprocess.Popen(
            [sys.executable, "-m", "safeship", "deploy", ENV, "--version", "v2"],
            cwd=ws.root,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "deploy.err").open("w"),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            # Killed while the first batch (h2, beside the canary host h1) bakes.
            wait_for(
                lambda: (r := ws.release("v2")) is not None and len(r.hosts) == 2,
                "the first batch",
                30,
            )
        finally:
            deploying.send_signal(signal.SIGKILL)
            deploying.wait(10)
        # Another process (any machine with the config and the registry) closes it.
        recovered = operations.recover(ws.loaded, ENV)
        assert [r.version for r in recovered] == ["v2"]
        assert ws.release("v2") is None  # stopped on both hosts it ran on
        assert served_by(ws) == {"v1": ["h1", "h2", "h3"]}
        with Registry(ws.loaded.registry_url()) as registry:
            record = registry.get(recovered[0].id)
        # Its batches ran before the release took traffic: closed as aborted.
        assert record is not None and record.status == Status.ABORTED.value
        assert "orchestrator lost" in (record.rollback_reason or "")
        totals = load.stop()
        assert totals.ok.get("v1", 0) > 30 and totals.failed.get("v1", 0) == 0, totals
    finally:
        ws.down()
