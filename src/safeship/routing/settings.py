"""Settings of the routers (safeship.toml ``[environments.X.router]``), one per ``type``.

Kept here, beside their adapters; safeship.config.models takes them into its router union.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from safeship.routing.base import check_token
from safeship.settings_model import SettingsModel


class BuiltinRouterSettings(SettingsModel):
    """safeship's own asyncio proxy, one process per environment."""

    type: Literal["builtin"] = "builtin"
    splits_traffic: ClassVar[bool] = True  # weights between releases; listens on a port
    needs_binary: ClassVar[str | None] = None
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


class PlatformRouterSettings(SettingsModel):
    """For targets whose platform routes to the release itself (railway, command): no process,
    no port; the serving version is recorded, and health checks go to the release's own URL."""

    type: Literal["platform"]
    # One release at a time, switched by the platform: no port, only all-at-once; the router
    # of the targets that route themselves (and of no other).
    splits_traffic: ClassVar[bool] = False
    needs_binary: ClassVar[str | None] = None
