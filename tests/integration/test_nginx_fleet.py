"""NginxRouter as the fleet alternative: an upstream server per host of a fleet release, with
the real nginx in front of HTTP servers on 127.0.0.x addresses standing for hosts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import test_haproxy_router
from test_haproxy_router import Host, fleet, wait_for

from safeship._processes import free_port
from safeship.routing.nginx import NginxRouter
from safeship.routing.proxy import RELEASE_HEADER

# test_haproxy_router's fixture for hosts, found by pytest under this name.
hosts = test_haproxy_router.hosts


@pytest.fixture
def router(tmp_path: Path) -> Iterator[NginxRouter]:
    r = NginxRouter("test", free_port(), tmp_path)
    try:
        yield r
    finally:
        r.stop()


def test_a_fleet_release_is_an_upstream_server_per_host(
    router: NginxRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1, v2 = hosts("v1", 2), hosts("v2", 1)
    router.set_backends([fleet("v1", 80, v1), fleet("v2", 20, v2)])
    router.ensure_running()
    with httpx.Client(trust_env=False, timeout=5) as client:
        answered = [client.get(f"http://127.0.0.1:{router.port}/") for _ in range(90)]
    seen = Counter((r.headers[RELEASE_HEADER], r.text.split()[1]) for r in answered)
    # 40 per host of v1, 20 for v2's one host: 2/2/1, the split holds over the hosts.
    assert seen == {("v1", "web1"): 36, ("v1", "web2"): 36, ("v2", "web1"): 18}, seen
    assert router.backends() == [fleet("v1", 80, v1), fleet("v2", 20, v2)]
    # nginx logs a request after answering it: the last lines may come a moment later.
    wait_for(lambda: sum(s.requests for s in router.stats().values()) == 90, "90 log lines")
    stats = router.stats()
    assert stats["v1"].requests == 72 and stats["v2"].requests == 18
