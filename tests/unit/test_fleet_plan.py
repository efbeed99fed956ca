"""A fleet's settings and the rollout's host bookkeeping: shares of hosts, the budget of hosts
that may be lost, a release's backend with a server per host."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from safeship.config.models import EnvironmentSettings
from safeship.pipeline.fleet import Fleet, backend_of, without_hosts
from safeship.routing.base import Backend, Server
from safeship.targets.base import (
    FleetRelease,
    HostUnreachable,
    Instance,
    Release,
    RolloutPlan,
    TargetError,
)
from safeship.targets.settings import SshTargetSettings, hosts_of


def ssh_env(**target: object) -> dict[str, object]:
    hosts = [{"name": f"web{i}", "address": f"10.0.0.{i}"} for i in (1, 2, 3, 4)]
    return {
        "target": {"type": "ssh", "hosts": hosts, "command": ["python3", "app.py"], **target},
        "port": 8080,
    }


def test_shares_of_hosts_round_down_like_ansible_serial() -> None:
    assert hosts_of("25%", 10, at_least_one=True) == 2
    assert hosts_of("10%", 3, at_least_one=True) == 1
    assert hosts_of("10%", 3, at_least_one=False) == 0
    assert hosts_of(5, 3, at_least_one=True) == 3
    assert hosts_of("100%", 6, at_least_one=True) == 6


def test_an_ssh_target_gets_haproxy_and_refuses_a_one_machine_router() -> None:
    env = EnvironmentSettings.model_validate(ssh_env(canary_hosts=["web2"], batch_size="50%"))
    assert env.router.type == "haproxy"
    assert isinstance(env.target, SshTargetSettings) and env.target.canary_hosts == ["web2"]
    with pytest.raises(ValidationError, match="ssh target's hosts need the nginx or haproxy"):
        EnvironmentSettings.model_validate({**ssh_env(), "router": {"type": "builtin"}})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"canary_hosts": ["web9"]}, "canary_hosts names unknown hosts: web9"),
        ({"batch_size": "150%"}, "percentage"),
        ({"batch_size": 0}, "batch_size must be at least 1 host"),
        ({"role": "db"}, "no host has the role 'db'"),
        (
            {"hosts": [{"name": "a", "address": "h"}, {"name": "a", "address": "i"}]},
            "a named twice",
        ),
        ({"hosts": [{"name": "a b", "address": "h"}]}, "a host's name is"),
        ({"hosts": [{"name": "a", "address": "h;rm -rf /"}]}, "IP address or a DNS name"),
    ],
)
def test_bad_fleet_settings_are_refused(target: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EnvironmentSettings.model_validate(ssh_env(**target))


def fleet_release(*hosts: str) -> FleetRelease:
    instances = tuple(Instance(h, f"10.0.0.{i}", 9000 + i, 100 + i) for i, h in enumerate(hosts))
    return FleetRelease("prod", "v2", 9000, 100, 0.0, instances=instances)


def test_a_fleet_release_is_one_backend_with_a_server_per_host_in_traffic() -> None:
    release = fleet_release("web1", "web2", "web3")
    backend = backend_of(release, 40, out={"web2"})
    assert backend.weight == 40 and backend.name == "v2"
    assert backend.servers == (
        Server("web1", "http://10.0.0.0:9000"),
        Server("web3", "http://10.0.0.2:9002"),
    )
    assert without_hosts(backend, {"web1"}).servers == (Server("web3", "http://10.0.0.2:9002"),)
    one = backend_of(Release("prod", "v1", 8001, 1, 0.0), 60)
    assert one == Backend("v1", "http://127.0.0.1:8001", 60) and one.instances[0].host == ""
    assert release.without("web1").hosts == ("web2", "web3")


class Starter:
    """Starts a release on the hosts it is given; the hosts in ``dead`` do not answer."""

    def __init__(self, dead: set[str]) -> None:
        self.dead = dead
        self.calls: list[list[str]] = []

    def __call__(self, hosts: Sequence[str]) -> FleetRelease:
        self.calls.append(list(hosts))
        for host in hosts:
            if host in self.dead:
                raise HostUnreachable(host, f"{host}: no answer within 1 s")
        return fleet_release(*hosts)


def test_an_unreachable_host_is_taken_out_and_the_rest_started_within_the_budget() -> None:
    fleet = Fleet(target=None, plan=RolloutPlan(("web1", "web2", "web3"), (), 1))  # type: ignore[arg-type]
    out: list[str] = []
    start = Starter({"web2"})
    release = fleet.start(["web1", "web2", "web3"], start, lambda host, why: out.append(host))
    assert release is not None and release.hosts == ("web1", "web3")
    assert start.calls == [["web1", "web2", "web3"], ["web1", "web3"]]
    assert out == ["web2"] and fleet.out == {"web2": "web2: no answer within 1 s"}


def test_beyond_max_unavailable_the_start_fails_naming_the_host() -> None:
    fleet = Fleet(target=None, plan=RolloutPlan(("web1", "web2", "web3"), (), 1))  # type: ignore[arg-type]
    with pytest.raises(HostUnreachable) as caught:
        fleet.start(["web1", "web2", "web3"], Starter({"web1", "web3"}), lambda h, w: None)
    assert caught.value.host == "web3"
    assert str(caught.value) == (
        "host web3 unavailable (web3: no answer within 1 s); 2 hosts out of traffic, "
        "max_unavailable is 1"
    )


def test_a_batch_whose_hosts_are_all_out_starts_nothing() -> None:
    fleet = Fleet(target=None, plan=RolloutPlan(("web1",), (("web2",),), 1))  # type: ignore[arg-type]
    assert fleet.start(["web2"], Starter({"web2"}), lambda h, w: None) is None
    assert fleet.start(["web2"], Starter(set()), lambda h, w: None) is None  # web2 stays out


def test_another_failure_is_not_retried() -> None:
    def broken(hosts: Sequence[str]) -> FleetRelease:
        raise TargetError("web1: release v2 exited with code 1 before listening: boom")

    fleet = Fleet(target=None, plan=RolloutPlan(("web1",), (), 3))  # type: ignore[arg-type]
    with pytest.raises(TargetError, match="boom"):
        fleet.start(["web1"], broken, lambda h, w: None)
    assert fleet.out == {}
