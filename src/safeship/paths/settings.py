"""The ``[paths]`` section of safeship.toml: deploy paths in failover order and their settings.

[paths]
order = ["github-actions", "railway-native", "circleci", "local"]
cooldown = 600

[paths.github-actions]
repo = "acme/shop"
workflow = "deploy.yml"

[paths.circleci]
project_slug = "gh/acme/shop"

[paths.railway-native]
project_id = "..."
service_id = "..."
environment_id = "..."                           # default Railway environment
environment_ids = { staging = "...", production = "..." }
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safeship.railway.settings import RailwayConnection
from safeship.settings_model import SettingsModel

BUILTIN_PATHS = ("github-actions", "railway-native", "circleci", "local")


class _Model(SettingsModel):
    # The tables named with a dash ("github-actions") are fields with an alias.
    model_config = ConfigDict(populate_by_name=True)


class _PollSettings(_Model):
    request_timeout: Annotated[float, Field(gt=0, le=120)] = 15.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_retry_wait: Annotated[float, Field(ge=0, le=300)] = 30.0
    poll_interval: Annotated[float, Field(gt=0, le=120)] = 5.0
    run_timeout: Annotated[float, Field(gt=0, le=14400)] = 1800.0
    # After a trigger failed once sent (no answer, the connection dropped, a 5xx), how long to
    # look for the run it may have created before giving up (it is never resent).
    reconcile_timeout: Annotated[float, Field(gt=0, le=300)] = 30.0


class GitHubActionsPathSettings(_PollSettings):
    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    workflow: str = "deploy.yml"
    ref: str = "main"
    token_env: str = "GITHUB_TOKEN"
    api_url: str = "https://api.github.com"
    status_url: str = "https://www.githubstatus.com/api/v2/components.json"
    # A failed run shorter than this, with no steps, is checked for GitHub's billing annotation.
    billing_window: Annotated[float, Field(gt=0, le=600)] = 60.0
    recent_runs: Annotated[int, Field(ge=1, le=20)] = 3


class CircleCIPathSettings(_PollSettings):
    project_slug: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    ]
    branch: str = "main"
    token_env: str = "CIRCLE_TOKEN"
    api_url: str = "https://circleci.com"
    # Projects integrated through the CircleCI GitHub App (slug "circleci/ORG_ID/PROJECT_ID")
    # are triggered through their pipeline definition (Project Settings > Pipelines): the older
    # trigger endpoint does not support them.
    definition_id: str | None = None


class RailwayNativePathSettings(RailwayConnection):
    # safeship environment name -> Railway environment id; others use environment_id.
    environment_ids: dict[str, str] = Field(default_factory=dict)


class PathsSettings(_Model):
    order: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["local"])
    # Seconds a path that failed is skipped before it is tried again (circuit breaker).
    cooldown: Annotated[float, Field(ge=0, le=86400)] = 600.0
    # Where the breaker keeps its state, relative to safeship.toml.
    state_file: str = ".safeship/paths-breaker.json"
    github_actions: GitHubActionsPathSettings | None = Field(None, alias="github-actions")
    circleci: CircleCIPathSettings | None = None
    railway_native: RailwayNativePathSettings | None = Field(None, alias="railway-native")

    @model_validator(mode="after")
    def _configured(self) -> PathsSettings:
        if len(set(self.order)) != len(self.order):
            raise ValueError("order names a path twice")
        for name in self.order:
            if name in BUILTIN_PATHS and name != "local" and self.for_path(name) is None:
                raise ValueError(f"path {name!r} is in order but has no [paths.{name}] table")
        return self

    def token_variables(self) -> dict[str, str]:
        """The variable holding each ordered path's token, by path (paths without one are
        left out)."""
        tokens = {
            "github-actions": self.github_actions.token_env if self.github_actions else None,
            "circleci": self.circleci.token_env if self.circleci else None,
            "railway-native": self.railway_native.token_env if self.railway_native else None,
        }
        return {name: env for name in self.order if (env := tokens.get(name)) is not None}

    def for_path(self, name: str) -> BaseModel | None:
        return {
            "github-actions": self.github_actions,
            "circleci": self.circleci,
            "railway-native": self.railway_native,
        }.get(name)
