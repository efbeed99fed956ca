"""The ``[serve]`` table of safeship.toml: where `safeship serve` (the dashboard) listens.

Bound to loopback by default; binding elsewhere needs authentication configured (the sign-in
side adds its settings here: docs/dashboard.md).
"""

from __future__ import annotations

from pydantic import Field

from safeship.settings_model import SettingsModel


class ServeSettings(SettingsModel):
    # The address the dashboard listens on (`--host` overrides it).
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    # The port (`--port` overrides it).
    port: int = Field(default=8470, ge=1, le=65535)
    # The dashboard's public address, for links in notifications and reports (None: none given).
    public_url: str | None = Field(default=None, max_length=2048)
