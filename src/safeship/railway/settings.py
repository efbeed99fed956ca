"""How to reach one Railway service: the railway target's and railway-native path's settings
build on this (``[environments.X.target]`` with ``type = "railway"``, ``[paths.railway-native]``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from safeship.settings_model import SettingsModel

RAILWAY_ENDPOINT = "https://backboard.railway.com/graphql/v2"


class RailwayConnection(SettingsModel):
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
