"""The ``[serve]`` table of safeship.toml: where `safeship serve` (the dashboard) listens, and
``[serve.auth]``: who may sign in and how (docs/security.md).

Bound to loopback by default; binding elsewhere needs authentication configured (a user with a
password, or a trusted header from an authenticating proxy).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from safeship.settings_model import SettingsModel

Role = Literal["viewer", "deployer", "approver", "admin"]


class ServeAuthSettings(SettingsModel):
    # The header an authenticating proxy (oauth2-proxy, an SSO gateway) sets to the signed-in
    # user's name, e.g. "X-Forwarded-User" (None: no proxy; users sign in with a password).
    trusted_header: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$"
    )
    # The addresses (or networks, "10.0.0.0/8") the header is believed from; required with
    # trusted_header: from anywhere else the header is ignored (and the attempt audited).
    trusted_proxies: tuple[str, ...] = Field(default=(), max_length=100)
    # The role of a proxy-authenticated user who is not a safeship user (one who is keeps theirs).
    proxy_role: Role = "viewer"
    # A session's absolute lifetime, in seconds (12 h by default).
    session_lifetime: float = Field(default=43_200.0, gt=0, le=30 * 86_400)
    # A session unused this long (seconds) ends (30 min by default).
    session_idle: float = Field(default=1_800.0, gt=0, le=30 * 86_400)
    # Cookies marked Secure (sent over HTTPS only; browsers treat http://127.0.0.1 and
    # http://localhost as secure too). Turn off only for plain HTTP on another address.
    secure_cookies: bool = True

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _proxies_with_header(self) -> ServeAuthSettings:
        if self.trusted_header and not self.trusted_proxies:
            raise ValueError("trusted_header needs trusted_proxies (the proxy's addresses)")
        return self


class ServeSettings(SettingsModel):
    # The address the dashboard listens on (`--host` overrides it).
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    # The port (`--port` overrides it).
    port: int = Field(default=8470, ge=1, le=65535)
    # The dashboard's public address, for links in notifications and reports (None: none given).
    public_url: str | None = Field(default=None, max_length=2048)
    # Sign-in, sessions and the authenticating proxy ([serve.auth]).
    auth: ServeAuthSettings = Field(default_factory=ServeAuthSettings)
