"""Settings of the railway and command targets (safeship.toml ``[environments.X.target]``).

Kept here, beside their adapters; safeship.config.models takes them into its target union.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from safeship.validation import check_argv, check_url_text, check_variables

RAILWAY_ENDPOINT = "https://backboard.railway.com/graphql/v2"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RailwayConnection(_Model):
    """How to reach one Railway service; shared by the railway target and railway-native path."""

    # Overridable for tests and proxies.
    endpoint: str = RAILWAY_ENDPOINT
    project_id: Annotated[str, Field(min_length=1)]
    environment_id: Annotated[str, Field(min_length=1)]
    service_id: Annotated[str, Field(min_length=1)]
    # The token is read from this environment variable, never from the file.
    token_env: str = "RAILWAY_TOKEN"
    # account and team tokens go in "Authorization: Bearer"; project tokens in
    # "Project-Access-Token".
    token_kind: Literal["account", "team", "project"] = "account"
    request_timeout: Annotated[float, Field(gt=0, le=120)] = 15.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_retry_wait: Annotated[float, Field(ge=0, le=300)] = 30.0
    poll_interval: Annotated[float, Field(gt=0, le=60)] = 3.0
    deploy_timeout: Annotated[float, Field(gt=0, le=7200)] = 1200.0
    # Build and deploy log lines quoted in the error of a failed deployment.
    log_lines: Annotated[int, Field(ge=1, le=200)] = 5


class RailwayTargetSettings(RailwayConnection):
    """Deploy through Railway's GraphQL API."""

    type: Literal["railway"] = "railway"
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


# A script's argument list: "{version}" is its only placeholder.
Script = Annotated[list[str], AfterValidator(lambda argv: check_argv(argv, ("version",)))]


class CommandTargetSettings(_Model):
    """The user's own scripts. Argument lists, no shell; "{version}" becomes the version."""

    type: Literal["command"] = "command"
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
