"""safeship.toml as pydantic models. Every model forbids unknown keys so typos are errors."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safeship.analysis.settings import JudgeSettings

# The health table and its levels live in their own module; re-exported here.
from safeship.config.health import HealthSettings as HealthSettings
from safeship.hooks.settings import PrepushSettings
from safeship.notify.settings import GitHubSettings
from safeship.paths.settings import PathsSettings


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectSettings(_Model):
    name: str = "app"
    # The environment-variable schema, relative to safeship.toml; `safeship deploy` checks the
    # target's variables against it before starting a release when the file exists.
    env_schema: str = "env.schema.toml"


class RegistrySettings(_Model):
    url: str = "sqlite:///.safeship/registry.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return url


class LocalTargetSettings(_Model):
    """Run each release as OS processes on this machine."""

    type: Literal["local"] = "local"
    # Argument list, no shell. "{port}" becomes the release's port, "{version}" its version.
    command: Annotated[list[str], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    start_timeout: Annotated[float, Field(gt=0, le=300)] = 15.0
    stop_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0


class BuiltinRouterSettings(_Model):
    """safeship's own asyncio proxy, one process per environment."""

    type: Literal["builtin"] = "builtin"


class NginxRouterSettings(_Model):
    """A private nginx per environment: weighted upstream, graceful reloads, JSON access log."""

    type: Literal["nginx"]


class RollbackRules(_Model):
    # Roll back when the canary's error rate over the bake window exceeds this fraction.
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.05
    # ... judged only once the window holds at least this many requests.
    min_requests: Annotated[int, Field(ge=1)] = 20
    # Roll back at once when the health check answers 5xx or the release process exits.
    on_health_5xx: bool = True
    on_process_exit: bool = True


class BlueGreenSettings(_Model):
    # Seconds the old release (blue) stays running after the switch: the rules keep watching
    # green, and a rollback sends traffic straight back to blue. Then blue is stopped.
    keep_warm: Annotated[float, Field(ge=0, le=86400)] = 30.0


class EnvironmentSettings(_Model):
    port: Annotated[int, Field(ge=1, le=65535)]
    target: LocalTargetSettings
    router: Annotated[BuiltinRouterSettings | NginxRouterSettings, Field(discriminator="type")] = (
        BuiltinRouterSettings()
    )
    strategy: Literal["all-at-once", "canary", "blue-green"] = "canary"
    # Canary traffic percentages, increasing, ending at 100.
    steps: list[int] = Field(default_factory=lambda: [10, 50, 100])
    # Seconds to watch each step before moving on.
    bake_time: Annotated[float, Field(ge=0, le=3600)] = 5.0
    # Canary steps (below 100) that wait after their bake for `safeship promote ENV` (or
    # `safeship abort ENV`), the rules still running; no answer in pause_timeout seconds
    # rolls back.
    pause_at: list[int] = Field(default_factory=list)
    pause_timeout: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    # Seconds of watching after full traffic (status "monitoring"): the rules keep running
    # and can still roll back to the previous release, which runs until the window ends.
    # 0: off. The seed's typical values: staging 300, production 900.
    monitor_time: Annotated[float, Field(ge=0, le=86400)] = 0.0
    blue_green: BlueGreenSettings = BlueGreenSettings()
    health: HealthSettings = HealthSettings()
    rollback: RollbackRules = RollbackRules()
    # The canary judge (canary vs stable at each canary step below 100%); None: off.
    analysis: JudgeSettings | None = None

    @field_validator("steps")
    @classmethod
    def _steps_increase_to_100(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("needs at least one step")
        if any(not 0 < s <= 100 for s in steps):
            raise ValueError("each step is a percentage between 1 and 100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must increase")
        if steps[-1] != 100:
            raise ValueError("the last step must be 100")
        return steps

    @model_validator(mode="after")
    def _pauses_at_steps(self) -> EnvironmentSettings:
        wrong = [p for p in self.pause_at if p not in self.steps or p == 100]
        if wrong:
            raise ValueError(f"pause_at {wrong}: each pause must be one of the steps below 100")
        return self


class SafeshipConfig(_Model):
    project: ProjectSettings = ProjectSettings()
    registry: RegistrySettings = RegistrySettings()
    environments: dict[str, EnvironmentSettings]
    # Deploy paths in failover order (`safeship paths check`); not yet used by `deploy`.
    paths: PathsSettings = Field(default_factory=lambda: PathsSettings.model_validate({}))
    # The pre-push gate's checks (`safeship prepush`, the git hooks).
    prepush: PrepushSettings = Field(default_factory=PrepushSettings)
    # Optional: report every deploy as a GitHub deployment with statuses.
    github: GitHubSettings | None = None

    @model_validator(mode="after")
    def _distinct_ports(self) -> SafeshipConfig:
        seen: dict[int, str] = {}
        for name, env in self.environments.items():
            if env.port in seen:
                raise ValueError(f"environments {seen[env.port]} and {name} share port {env.port}")
            seen[env.port] = name
        return self
