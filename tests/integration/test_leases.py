"""Environment leases on real SQLite and PostgreSQL: races, expiry, heartbeat, killed holders."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from safeship.pipeline.lease import DeployLease, holder_is_dead, this_holder
from safeship.registry import EnvironmentBusy, Lease, LeaseLost, Registry

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ENV = "production"


class ManualClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(registry_url: str, clock: ManualClock) -> Iterator[Registry]:
    with Registry(registry_url, clock=clock) as reg:
        yield reg


def test_acquire_renew_release(registry: Registry, clock: ManualClock) -> None:
    assert registry.lease(ENV) is None
    lease = registry.acquire_lease(ENV, "alice@laptop pid 42", ttl=10)
    assert (lease.holder, lease.acquired_at, lease.expires_at) == (
        "alice@laptop pid 42",
        T0,
        T0 + timedelta(seconds=10),
    )
    assert not lease.taken_over and registry.lease(ENV) == lease
    clock.advance(3)
    deployment_id = registry.create_deployment(ENV, "v1", None, "cli")
    renewed = registry.renew_lease(ENV, lease.token, 10, deployment_id=deployment_id)
    assert renewed.heartbeat_at == T0 + timedelta(seconds=3)
    assert renewed.expires_at == T0 + timedelta(seconds=13)
    assert renewed.deployment_id == deployment_id and renewed.acquired_at == T0
    assert registry.acquire_lease("staging", "bob@ci pid 7", ttl=10).holder == "bob@ci pid 7"
    assert registry.release_lease(ENV, lease.token) is True
    assert registry.lease(ENV) is None
    assert registry.release_lease(ENV, lease.token) is False
    assert registry.lease("staging") is not None  # one lease per environment


def test_a_live_lease_refuses_with_who_since_when_and_which_deployment(
    registry: Registry, clock: ManualClock
) -> None:
    lease = registry.acquire_lease(ENV, "alice@laptop pid 42", ttl=10)
    with pytest.raises(EnvironmentBusy) as first:
        registry.acquire_lease(ENV, "bob@ci pid 7", ttl=10)
    assert str(first.value) == (
        "production is being deployed by alice@laptop pid 42 since 2026-03-01 12:00:00 UTC "
        "(deployment not recorded yet)"
    )
    deployment_id = registry.create_deployment(ENV, "v1", None, "cli")
    registry.renew_lease(ENV, lease.token, 10, deployment_id=deployment_id)
    clock.advance(9.9)
    with pytest.raises(EnvironmentBusy) as second:
        registry.acquire_lease(ENV, "bob@ci pid 7", ttl=10)
    assert str(second.value).endswith(f"(deployment {deployment_id})")
    assert second.value.lease.token == lease.token
    still = registry.lease(ENV)
    assert still is not None and still.holder == "alice@laptop pid 42"


def test_an_expired_lease_is_taken_over_and_reported(
    registry: Registry, clock: ManualClock
) -> None:
    dead = registry.acquire_lease(ENV, "alice@laptop pid 42", ttl=5)
    clock.advance(5)
    taken = registry.acquire_lease(ENV, "bob@ci pid 7", ttl=5)
    assert taken.taken_over and taken.previous is not None
    assert (taken.previous.holder, taken.previous.token) == ("alice@laptop pid 42", dead.token)
    assert taken.token != dead.token and taken.deployment_id is None
    # The dead holder, should it wake up, can neither renew nor release its successor's lease.
    with pytest.raises(LeaseLost, match=r"now held by bob@ci pid 7"):
        registry.renew_lease(ENV, dead.token, 5)
    assert registry.release_lease(ENV, dead.token) is False
    assert registry.lease(ENV) == dataclass_without_previous(taken)


def test_replace_takes_over_only_the_named_lease(registry: Registry) -> None:
    first = registry.acquire_lease(ENV, "alice@laptop pid 42", ttl=60)
    with pytest.raises(EnvironmentBusy):
        registry.acquire_lease(ENV, "bob@ci pid 7", ttl=60, replace="not-the-token")
    taken = registry.acquire_lease(ENV, "bob@ci pid 7", ttl=60, replace=first.token)
    assert taken.previous is not None and taken.previous.token == first.token


def dataclass_without_previous(lease: Lease) -> Lease:
    return Lease(
        lease.environment,
        lease.holder,
        lease.token,
        lease.deployment_id,
        lease.acquired_at,
        lease.heartbeat_at,
        lease.expires_at,
    )


def race(runners: list[Registry], round_no: int) -> tuple[list[Lease], list[EnvironmentBusy]]:
    """Every runner tries to acquire at the same moment; who won and who was refused."""
    barrier = threading.Barrier(len(runners))
    won: list[Lease] = []
    busy: list[EnvironmentBusy] = []
    errors: list[BaseException] = []

    def attempt(reg: Registry, who: str) -> None:
        barrier.wait(timeout=10)
        try:
            won.append(reg.acquire_lease(ENV, who, ttl=30))
        except EnvironmentBusy as exc:
            busy.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=attempt, args=(reg, f"runner{i}@ci-{i} pid {round_no}"))
        for i, reg in enumerate(runners)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return won, busy


def test_100_races_of_two_deploys_exactly_one_wins_each_time(registry_url: str) -> None:
    rounds = 100
    with Registry(registry_url) as runner_a, Registry(registry_url) as runner_b:
        started = time.monotonic()
        for round_no in range(rounds):
            won, busy = race([runner_a, runner_b], round_no)
            assert len(won) == 1 and len(busy) == 1, f"round {round_no}: {won} {busy}"
            assert busy[0].lease.token == won[0].token
            assert runner_a.release_lease(ENV, won[0].token)
        elapsed = time.monotonic() - started
    assert elapsed < 60, f"{rounds} races took {elapsed:.1f} s"


def test_heartbeat_keeps_a_long_deploys_lease_alive(registry_url: str) -> None:
    with Registry(registry_url) as reg, Registry(registry_url) as other:
        with DeployLease(reg, ENV, holder="alice@ci-1 pid 1", ttl=0.6, heartbeat=0.1) as held:
            deadline = time.monotonic() + 2.0  # more than three ttls
            refusals = 0
            while time.monotonic() < deadline:
                with pytest.raises(EnvironmentBusy):
                    other.acquire_lease(ENV, "bob@ci-2 pid 2", ttl=0.6)
                refusals += 1
                time.sleep(0.05)
            assert refusals > 10 and not held.lost.is_set()
            assert held.lease is not None
            current = reg.lease(ENV)
            assert current is not None and current.heartbeat_at > current.acquired_at
        assert reg.lease(ENV) is None
        assert other.acquire_lease(ENV, "bob@ci-2 pid 2", ttl=0.6).taken_over is False


def test_a_holder_that_lost_its_lease_knows_it_and_releases_nothing(
    registry_url: str, clock: ManualClock
) -> None:
    with Registry(registry_url, clock=clock) as reg:
        errors = io.StringIO()
        # The manual clock does not move on its own: the test plays a holder stalled past its ttl.
        stalled = DeployLease(
            reg, ENV, holder="alice@ci-1 pid 1", ttl=5, heartbeat=4, errors=errors
        )
        with stalled:
            clock.advance(6)  # no heartbeat within the ttl: expired
            successor = reg.acquire_lease(ENV, "bob@ci-2 pid 2", ttl=5)
            stalled.attach(reg.create_deployment(ENV, "v1", None, "cli"))
            assert stalled.lost.is_set()
        assert reg.lease(ENV) == dataclass_without_previous(successor)
    assert errors.getvalue() == (
        "safeship: warning: the lease on production was lost (now held by bob@ci-2 pid 2)\n"
    )


_HOLD = """
import sys, time
from safeship.pipeline.lease import DeployLease
from safeship.registry import Registry
registry = Registry(sys.argv[1])
lease = DeployLease(registry, "production", holder=sys.argv[2] or None, ttl=float(sys.argv[3]),
                    heartbeat=0.1)
lease.acquire()
print("held", flush=True)
time.sleep(600)
"""


def hold_in_subprocess(registry_url: str, holder: str, ttl: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, registry_url, holder, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_sigkilled_holder_on_another_host_expires_after_the_ttl(registry_url: str) -> None:
    ttl = 1.5
    proc = hold_in_subprocess(registry_url, "ci@runner-elsewhere pid 4242", ttl)
    try:
        with Registry(registry_url) as reg:
            time.sleep(ttl + 0.5)  # the heartbeat keeps it alive past one ttl
            with pytest.raises(EnvironmentBusy, match="runner-elsewhere"):
                reg.acquire_lease(ENV, "me@here pid 1", ttl=ttl)
            proc.kill()
            proc.wait(timeout=10)
            killed_at = time.monotonic()
            while True:
                try:
                    taken = reg.acquire_lease(ENV, "me@here pid 1", ttl=ttl)
                    break
                except EnvironmentBusy:
                    assert time.monotonic() - killed_at < ttl + 2.0, "lease never expired"
                    time.sleep(0.05)
            waited = time.monotonic() - killed_at
            assert taken.previous is not None
            assert taken.previous.holder == "ci@runner-elsewhere pid 4242"
            assert 0.5 < waited < ttl + 2.0
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_sigkilled_holder_on_this_host_is_taken_over_at_once(registry_url: str) -> None:
    proc = hold_in_subprocess(registry_url, "", ttl=60)  # the default holder: user@host pid
    try:
        with Registry(registry_url) as reg:
            current = reg.lease(ENV)
            assert current is not None and current.holder.endswith(f" pid {proc.pid}")
            assert not holder_is_dead(current.holder)
            with pytest.raises(EnvironmentBusy):
                DeployLease(reg, ENV).acquire()
            proc.kill()
            proc.wait(timeout=10)
            assert holder_is_dead(current.holder)
            started = time.monotonic()
            with DeployLease(reg, ENV) as lease:
                assert lease.taken_over is not None
                assert lease.taken_over.token == current.token
                assert lease.lease is not None and lease.lease.holder == this_holder()
            assert time.monotonic() - started < 5  # not the 60 s ttl
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_holders_elsewhere_or_alive_are_never_judged_dead() -> None:
    assert not holder_is_dead("ci@some-other-host pid 1")
    assert not holder_is_dead(this_holder())  # ourselves
    assert not holder_is_dead("free text without a pid")
