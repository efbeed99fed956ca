"""Settings of the local, railway and command targets (safeship.toml ``[environments.X.target]``).

Kept here, beside their adapters; safeship.config.models takes them into its target union.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from safeship.railway.settings import RailwayConnection
from safeship.settings_model import SettingsModel
from safeship.validation import check_argv, check_text, check_url_text, check_variables

# A file's path as the user wrote it (resolved later, relative to safeship.toml).
FilePath = Annotated[str, AfterValidator(lambda path: check_text("path", path, 4096))]


class RailwayTargetSettings(RailwayConnection):
    """Deploy through Railway's GraphQL API."""

    type: Literal["railway"] = "railway"
    routes_itself: ClassVar[bool] = True  # Railway routes to the serving deployment
    # Where health checks reach the service (e.g. its custom domain). Default: the deployment's
    # Railway domain (staticUrl) over https; a service without a public domain needs this.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/")

    def service_url(self) -> str | None:
        """Where the service answers without asking Railway (``safeship health`` reads it
        with no token)."""
        return self.public_url


class LocalTargetSettings(SettingsModel):
    """Run each release as OS processes on this machine."""

    type: Literal["local"] = "local"
    routes_itself: ClassVar[bool] = False  # a router in front splits traffic between releases
    # Argument list, no shell. "{port}" becomes the release's port, "{version}" its version.
    command: Annotated[
        list[str], AfterValidator(lambda argv: check_argv(argv, ("port", "version")))
    ]
    env: Annotated[dict[str, str], AfterValidator(check_variables)] = Field(default_factory=dict)
    cwd: FilePath | None = None
    start_timeout: Annotated[float, Field(gt=0, le=300)] = 15.0
    stop_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0

    def service_url(self) -> str | None:
        return None  # each release has its own port; the environment's is the router's


# A script's argument list: "{version}" is its only placeholder.
Script = Annotated[list[str], AfterValidator(lambda argv: check_argv(argv, ("version",)))]


class CommandTargetSettings(SettingsModel):
    """The user's own scripts. Argument lists, no shell; "{version}" becomes the version."""

    type: Literal["command"] = "command"
    routes_itself: ClassVar[bool] = True  # the user's platform serves what the scripts deploy
    deploy: Script
    # Exit 0: the version is up. Without it, a release counts as alive once deployed.
    status: Script | None = None
    rollback: Script | None = None
    stop: Script | None = None
    # Prints KEY=VALUE lines (or a JSON object) of the environment's variables.
    variables: Annotated[list[str], AfterValidator(lambda argv: check_argv(argv, ()))] | None = None
    env: Annotated[dict[str, str], AfterValidator(check_variables)] = Field(default_factory=dict)
    # The service's URL, where `safeship deploy` runs the health checks; "{version}" becomes
    # the version. Needed to deploy (every deploy verifies health).
    url: str | None = None
    timeout: Annotated[float, Field(gt=0, le=7200)] = 600.0
    status_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0

    def service_url(self) -> str | None:
        """The URL when it needs no version filled in."""
        return self.url if self.url and "{version}" not in self.url else None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        # "{version}" is substituted as it is: a version cannot change the host (its rule,
        # safeship.validation.check_version, has no : / ? # @).
        if url is None:
            return None
        check_url_text(url)
        parts = urlsplit(url.replace("{version}", "v"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        template = urlsplit(url)
        in_host = (template.hostname or "").split("{version}")
        if template.netloc.count("{version}") != len(in_host) - 1 or any(
            not after.startswith(".") for after in in_host[1:]
        ):
            raise ValueError(
                "{version} in the URL's host must be followed by its domain "
                "(e.g. https://app-{version}.example.com): a version never names the host"
            )
        return url
