"""Settings of the routers (safeship.toml ``[environments.X.router]``), one per ``type``.

Kept here, beside their adapters; safeship.config.models takes them into its router union.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from safeship.routing.base import check_token
from safeship.settings_model import SettingsModel
from safeship.validation import check_url_path


class BuiltinRouterSettings(SettingsModel):
    """safeship's own asyncio proxy, one process per environment."""

    type: Literal["builtin"] = "builtin"
    splits_traffic: ClassVar[bool] = True  # weights between releases; listens on a port
    needs_binary: ClassVar[str | None] = None
    # Takes a release's servers on several hosts (Backend.servers): the ssh target needs it.
    serves_fleets: ClassVar[bool] = False
    # Keep one user on one release. "cookie": the first response sets a cookie naming the
    # release that answered, and later requests go back to it while it has weight. "header":
    # a request header naming the user (e.g. X-User-Id) is hashed onto the weights, so a user
    # on the canary stays on it as its weight grows. Requests without either: by the weights.
    sticky: Literal["off", "cookie", "header"] = "off"
    # The cookie's name; with sticky = "header" the header's, which must then be given.
    sticky_name: str = "safeship_release"
    # Seconds a client has to send a request's whole head (from connecting, or from its first
    # byte after a response): a slow-header client cannot hold a connection open for long.
    header_timeout: Annotated[float, Field(gt=0, le=3600)] = 10.0
    # Seconds a client's keep-alive connection may stay open without a request.
    idle_timeout: Annotated[float, Field(gt=0, le=86400)] = 60.0
    # Also serve the Prometheus exposition (GET /metrics, read-only) on 127.0.0.1:PORT for a
    # Prometheus server to scrape; None: only on the router's private admin socket. A running
    # router takes a changed value at its next start (`safeship down`, then a deploy or `up`).
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @field_validator("sticky_name")
    @classmethod
    def _is_token(cls, name: str) -> str:
        # The router process checks names with the same rule (it goes into a Set-Cookie line).
        return check_token(name)

    @model_validator(mode="after")
    def _header_is_named(self) -> BuiltinRouterSettings:
        if self.sticky == "header" and "sticky_name" not in self.model_fields_set:
            raise ValueError(
                'sticky = "header" needs sticky_name, the header naming the user (e.g. "X-User-Id")'
            )
        return self


class NginxRouterSettings(SettingsModel):
    """A private nginx per environment: weighted upstream, graceful reloads, JSON access log."""

    type: Literal["nginx"]
    splits_traffic: ClassVar[bool] = True
    needs_binary: ClassVar[str | None] = "nginx"  # `safeship doctor` looks for it on PATH
    serves_fleets: ClassVar[bool] = True  # an upstream server per host


class HaproxyRouterSettings(SettingsModel):
    """A private HAProxy per environment (docs/fleet.md): a server per (host, release),
    weights through the Runtime API, servers drained before they stop, its own health checks
    taking a dead host out of traffic, `show stat` and its log as the metric source."""

    type: Literal["haproxy"]
    splits_traffic: ClassVar[bool] = True
    needs_binary: ClassVar[str | None] = "haproxy"
    serves_fleets: ClassVar[bool] = True
    # HAProxy's health check of every server, every check_interval seconds: a server failing
    # `fall` checks in a row is down (out of traffic), one passing `rise` is up again.
    # check_path: an HTTP GET that must answer 2xx/3xx; None: a TCP connect.
    check_interval: Annotated[float, Field(ge=0.1, le=3600)] = 1.0
    fall: Annotated[int, Field(ge=1, le=100)] = 2
    rise: Annotated[int, Field(ge=1, le=100)] = 2
    check_path: str | None = None
    # Seconds to connect to a server; a request whose connect fails is retried on another
    # server (`retries`, `option redispatch`), so a host that drops off costs a delay, not an
    # error.
    connect_timeout: Annotated[float, Field(gt=0, le=300)] = 1.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    # Seconds a server may take to answer, and a client to send its request.
    server_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    client_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # After a reload (servers added), how long the old HAProxy process keeps serving the
    # connections it holds.
    hard_stop_after: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("check_path")
    @classmethod
    def _path(cls, path: str | None) -> str | None:
        return None if path is None else check_url_path(path)


class PlatformRouterSettings(SettingsModel):
    """For targets whose platform routes to the release itself (railway, command): no process,
    no port; the serving version is recorded, and health checks go to the release's own URL."""

    type: Literal["platform"]
    # One release at a time, switched by the platform: no port, only all-at-once; the router
    # of the targets that route themselves (and of no other).
    splits_traffic: ClassVar[bool] = False
    needs_binary: ClassVar[str | None] = None
    serves_fleets: ClassVar[bool] = False
