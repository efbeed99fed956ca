"""Sticky sessions in the builtin router: a real router process and real backend processes.

The fixtures (backends, routers, an HTTP client) are test_router's; only 127.0.0.1 is used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx
import pytest
import test_router
from test_router import BackendProc, url

from safeship.config import ConfigError, parse_config
from safeship.routing.builtin import BuiltinRouter
from safeship.routing.settings import BuiltinRouterSettings

# test_router's fixtures, found by pytest under these names.
client = test_router.client
make_router = test_router.make_router
start_backend = test_router.start_backend

COOKIE = "safeship_release"
COOKIE_MODE = BuiltinRouterSettings(sticky="cookie")
HEADER_MODE = BuiltinRouterSettings(sticky="header", sticky_name="X-User-Id")


def get(
    client: httpx.Client, router: BuiltinRouter, headers: dict[str, str] | None = None
) -> tuple[str, str | None]:
    """(the release that answered, the router's Set-Cookie or None) for one GET /."""
    client.cookies.clear()  # each request is a new client, unless ``headers`` has a Cookie
    r = client.get(url(router), headers=headers)
    assert r.status_code == 200, r.text
    release = r.headers["X-Safeship-Release"]
    assert r.text.split()[0] == release  # the release named is the one that answered
    cookies = r.headers.get_list("Set-Cookie")
    assert len(cookies) <= 1
    return release, cookies[0] if cookies else None


def test_cookie_keeps_each_client_on_its_release_at_50_50(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router(COOKIE_MODE)
    router.set_backends([stable.backend(50), canary.backend(50)])

    served: Counter[str] = Counter()
    pinned: dict[int, str] = {}
    for user in range(20):
        release, cookie = get(client, router)
        # A new client is routed by the weights and told where it went.
        assert cookie == f"{COOKIE}={release}; Path=/; HttpOnly; SameSite=Lax"
        pinned[user] = release
        served[release] += 1
    # The weighted round-robin split the new clients exactly.
    assert Counter(pinned.values()) == {"stable": 10, "canary": 10}

    for _ in range(12):
        for release in pinned.values():
            answered, cookie = get(client, router, {"Cookie": f"other=1; {COOKIE}={release}"})
            assert (answered, cookie) == (release, None)
            served[answered] += 1

    stats = router.stats()
    assert (
        {name: s.requests for name, s in stats.items()}
        == served
        == {
            "stable": 130,
            "canary": 130,
        }
    )


def test_cookie_of_a_release_without_weight_is_reset(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router(COOKIE_MODE)
    router.set_backends([stable.backend(50), canary.backend(50)])
    on_canary = {"Cookie": f"{COOKIE}=canary"}
    assert get(client, router, on_canary) == ("canary", None)

    router.set_backends([stable.backend(100), canary.backend(0)])  # rolled back
    new_cookie = f"{COOKIE}=stable; Path=/; HttpOnly; SameSite=Lax"
    assert get(client, router, on_canary) == ("stable", new_cookie)
    assert get(client, router, {"Cookie": f"{COOKIE}=stable"}) == ("stable", None)

    router.set_backends([stable.backend(100)])  # removed
    assert get(client, router, on_canary) == ("stable", new_cookie)
    # A cookie naming no release at all is replaced the same way.
    assert get(client, router, {"Cookie": f"{COOKIE}=v9%3Bx"}) == ("stable", new_cookie)
    assert router.stats()["canary"].requests == 1


def test_header_users_on_the_canary_stay_on_it_as_it_grows(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router(HEADER_MODE)
    users = [f"user-{i}" for i in range(100)]

    def releases() -> dict[str, str]:
        found = {}
        for user in users:
            release, cookie = get(client, router, {"x-user-id": user})
            assert cookie is None
            found[user] = release
        return found

    # The order the deploy uses: the new release first.
    router.set_backends([canary.backend(10), stable.backend(90)])
    at_10 = releases()
    assert releases() == at_10  # the same user, the same release
    on_canary = {u for u, r in at_10.items() if r == "canary"}
    assert 2 <= len(on_canary) <= 25  # about 10 of 100

    router.set_backends([canary.backend(50), stable.backend(50)])
    at_50 = releases()
    assert on_canary <= {u for u, r in at_50.items() if r == "canary"}
    assert 30 <= Counter(at_50.values())["canary"] <= 70

    # Without the header: by the weights, as without stickiness.
    assert Counter(get(client, router)[0] for _ in range(10)) == {"canary": 5, "stable": 5}
    stats = router.stats()
    assert stats["canary"].requests == 2 * len(on_canary) + Counter(at_50.values())["canary"] + 5
    assert sum(s.requests for s in stats.values()) == 3 * len(users) + 10


def test_off_ignores_cookie_and_header_and_sets_no_cookie(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()  # the default settings
    router.set_backends([stable.backend(50), canary.backend(50)])
    pinned = {"Cookie": f"{COOKIE}=canary", "X-User-Id": "user-1"}
    seen = [get(client, router, pinned) for _ in range(10)]
    assert Counter(release for release, _ in seen) == {"stable": 5, "canary": 5}
    assert {cookie for _, cookie in seen} == {None}


def test_changed_settings_reach_a_running_router(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable = start_backend("stable")
    router = make_router()
    router.set_backends([stable.backend(100)])
    assert get(client, router)[1] is None

    # A later command with sticky cookies in the config finds the same process.
    sticky = make_router(BuiltinRouterSettings(sticky="cookie", sticky_name="pin"))
    assert sticky.pid == router.pid
    assert get(client, sticky)[1] == "pin=stable; Path=/; HttpOnly; SameSite=Lax"

    make_router()  # and one with the default turns it off again
    assert get(client, router)[1] is None


CONFIG = """\
[environments.staging]
port = 8080
target = { type = "local", command = ["python", "app.py", "--port", "{port}"] }

[environments.staging.router]
type = "builtin"
"""


def problems(source: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    return info.value.problems


def test_sticky_settings_load_and_bad_ones_are_one_line_errors() -> None:
    router = parse_config(CONFIG + 'sticky = "header"\nsticky_name = "X-User-Id"\n')
    assert router.environments["staging"].router == HEADER_MODE
    assert parse_config(CONFIG).environments["staging"].router == BuiltinRouterSettings()

    assert problems(CONFIG + 'sticky = "session"\n') == [
        "safeship.toml:7: environments.staging.router.sticky:"
        " Input should be 'off', 'cookie' or 'header'"
    ]
    assert problems(CONFIG + 'sticky = "cookie"\nsticky_name = "my cookie"\n') == [
        "safeship.toml:8: environments.staging.router.sticky_name:"
        " must be 1-128 letters, digits or !#$%&'*+-.^_`|~"
    ]
    assert problems(CONFIG + 'sticky = "header"\n') == [
        "safeship.toml:5: environments.staging.router:"
        ' sticky = "header" needs sticky_name, the header naming the user (e.g. "X-User-Id")'
    ]
