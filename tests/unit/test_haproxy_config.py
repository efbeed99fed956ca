"""The HAProxy config renderer and the weight spread over a fleet release's servers, which the
nginx config uses too."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.routing.base import Backend, Server
from safeship.routing.haproxy_config import (
    RenderedServer,
    assign_server_names,
    check_backends,
    render_config,
    render_map,
    spread_weights,
)
from safeship.routing.nginx_config import render_config as render_nginx
from safeship.routing.settings import HaproxyRouterSettings


def fleet(name: str, weight: int, *addresses: str) -> Backend:
    servers = tuple(Server(f"web{i + 1}", f"http://{a}") for i, a in enumerate(addresses))
    return Backend(name, servers[0].url, weight, servers)


def test_a_releases_weight_is_spread_over_its_servers() -> None:
    weights = spread_weights(
        [fleet("a", 80, "10.0.0.1:80", "10.0.0.2:80"), fleet("b", 20, "10.0.0.3:80", "10.0.0.4:80")]
    )
    # 40 per server of a, 10 per server of b: reduced to 4/4/1/1.
    assert weights == {("a", "web1"): 4, ("a", "web2"): 4, ("b", "web1"): 1, ("b", "web2"): 1}


def test_the_finest_split_fits_haproxys_scale_and_no_server_of_a_live_release_gets_zero() -> None:
    six = [f"10.0.0.{i}:80" for i in range(1, 7)]
    weights = spread_weights(
        [fleet("big", 99, "10.0.1.1:80", "10.0.1.2:80"), fleet("tiny", 1, *six)]
    )
    assert weights["big", "web1"] == 256 and all(
        weights["tiny", f"web{i}"] == 1 for i in range(1, 7)
    )
    zero = spread_weights([fleet("a", 100, "10.0.0.1:80"), fleet("b", 0, "10.0.0.2:80")])
    assert zero == {("a", "web1"): 1, ("b", "web1"): 0}
    # A release without servers is one server of host "".
    assert spread_weights([Backend("solo", "http://127.0.0.1:9", 100)]) == {("solo", ""): 1}


def test_server_names_are_haproxy_names_unique_and_kept() -> None:
    pairs = [("1.0+b1", "web:1"), ("1.0_b1", "web_1"), ("v2", "")]
    names = assign_server_names(pairs, {})
    assert names == {
        "1.0_b1:web_1": ("1.0+b1", "web:1"),
        "1.0_b1:web_1-2": ("1.0_b1", "web_1"),
        "v2": ("v2", ""),
    }
    # A name once given is kept, whatever else comes.
    again = assign_server_names([("1.0_b1", "web_1"), ("v3", "h")], names)
    assert again["1.0_b1:web_1-2"] == ("1.0_b1", "web_1") and again["v3:h"] == ("v3", "h")
    assert render_map(names).splitlines()[0] == "1.0_b1:web_1 1.0+b1"


def test_backends_are_checked_with_one_line_reasons() -> None:
    with pytest.raises(ValueError, match="weights must sum to 100, not 50"):
        check_backends([fleet("a", 50, "10.0.0.1:80")])
    with pytest.raises(ValueError, match="one server per host"):
        check_backends([Backend("a", "http://x:1", 100, (Server("h", "http://x:1"),) * 2)])
    with pytest.raises(ValueError, match="must look like http://HOST:PORT"):
        check_backends([fleet("a", 100, "10.0.0.1")])
    assert check_backends([]) == []


def test_every_server_is_checked_and_requests_redispatched(tmp_path: Path) -> None:
    settings = HaproxyRouterSettings(
        type="haproxy", check_interval=0.5, fall=3, rise=2, check_path="/health", retries=3
    )
    text = render_config(tmp_path, 8080, [RenderedServer("v1:web1", "10.0.0.1:8000", 4)], settings)
    assert "server v1:web1 10.0.0.1:8000 weight 4 check inter 500ms fall 3 rise 2" in text
    for line in (
        "option httpchk GET /health",
        "option redispatch 1",
        "retries 3",
        "timeout connect 1000ms",
        "bind 127.0.0.1:8080",
        "stats socket unix@admin.sock mode 600 level admin",
        f"map({tmp_path}/releases.map)",
    ):
        assert line in text, line
    assert "httpchk" not in render_config(tmp_path, 8080, [], HaproxyRouterSettings(type="haproxy"))


def test_nginx_renders_an_upstream_server_per_host(tmp_path: Path) -> None:
    text = render_nginx(
        tmp_path,
        8080,
        [fleet("v1", 80, "10.0.0.1:80", "10.0.0.2:80"), fleet("v2", 20, "10.0.0.1:81")],
    )
    servers = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("server 10.")]
    assert servers == [
        "server 10.0.0.1:80 weight=2 max_fails=0;",
        "server 10.0.0.2:80 weight=2 max_fails=0;",
        "server 10.0.0.1:81 weight=1 max_fails=0;",
    ]
    # Every host's address names its release in the release header's map.
    assert '10\\.0\\.0\\.2:80$" "v1"' in text and '10\\.0\\.0\\.1:81$" "v2"' in text
    # Without servers, as before fleets: a release's own weight.
    plain = render_nginx(tmp_path, 8080, [Backend("a", "http://127.0.0.1:9001", 100)])
    assert "server 127.0.0.1:9001 weight=100 max_fails=0;" in plain
