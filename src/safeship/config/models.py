"""safeship.toml as pydantic models. Every model forbids unknown keys so typos are errors."""

from __future__ import annotations

import itertools
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from safeship.alerts.settings import AlertSettings, AlertsTable
from safeship.analysis.settings import JudgeSettings, MetricSourceSettings
from safeship.analytics.settings import AnalyticsSettings
from safeship.artifacts.settings import ArtifactsSettings

# The health table and its levels live in their own module; re-exported here.
from safeship.config.health import HealthSettings as HealthSettings
from safeship.config.serve import ServeSettings
from safeship.config.watch import WatchSettings
from safeship.gates.outage_settings import OutageSettings
from safeship.gates.settings import GatesSettings, PostDeploySettings
from safeship.hooks.settings import PrepushSettings
from safeship.jobs.settings import JobsSettings, JobsTable
from safeship.notify.settings import GitHubSettings, NotifySettings
from safeship.paths.settings import PathsSettings
from safeship.plugins import TARGETS, PluginSettings
from safeship.routing.settings import BuiltinRouterSettings as BuiltinRouterSettings
from safeship.routing.settings import HaproxyRouterSettings as HaproxyRouterSettings
from safeship.routing.settings import NginxRouterSettings as NginxRouterSettings
from safeship.routing.settings import PlatformRouterSettings as PlatformRouterSettings
from safeship.secrets.settings import SecretsSettings, SecretsTable
from safeship.settings_model import SettingsModel
from safeship.targets.settings import CommandTargetSettings, RailwayTargetSettings
from safeship.targets.settings import LocalTargetSettings as LocalTargetSettings
from safeship.targets.settings import SshTargetSettings as SshTargetSettings
from safeship.validation import (
    MAX_URL,
    check_environment_name,
    check_text,
    check_variables,
)

# safeship.toml is validated strictly (see safeship.config.loader.parse_config): these types
# add what strictness does not give, a name's rule and bounds.
EnvironmentName = Annotated[str, AfterValidator(check_environment_name)]
# A count of requests or samples: more than a million is a typo.
Count = Annotated[int, Field(ge=1, le=1_000_000)]


def _file_path(path: str) -> str:
    check_text("path", path, 4096)
    return path


Variables = Annotated[dict[str, str], AfterValidator(check_variables)]


class ProjectSettings(SettingsModel):
    name: Annotated[str, AfterValidator(lambda name: check_text("name", name, 100))] = "app"
    # The environment-variable schema, relative to safeship.toml; `safeship deploy` checks the
    # target's variables against it before starting a release when the file exists.
    env_schema: Annotated[str, AfterValidator(_file_path)] = "env.schema.toml"


class RegistrySettings(SettingsModel):
    url: str = "sqlite:///.safeship/registry.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        check_text("URL", url, MAX_URL)
        if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return url


RouterSettings = (
    BuiltinRouterSettings | NginxRouterSettings | HaproxyRouterSettings | PlatformRouterSettings
)
_BUILTIN_TARGET_SETTINGS = (
    LocalTargetSettings,
    RailwayTargetSettings,
    CommandTargetSettings,
    SshTargetSettings,
)


def _type_tag(model: type[BaseModel]) -> str:
    """The ``type`` a settings model is chosen by (its Literal's one value)."""
    (tag,) = get_args(model.model_fields["type"].annotation)
    return str(tag)


_TARGETS_BY_TYPE = {_type_tag(m): m for m in _BUILTIN_TARGET_SETTINGS}
_ROUTERS_BY_TYPE = {_type_tag(m): m for m in get_args(RouterSettings)}
# A table without ``type`` is the first built-in's (the only target of older configs).
_DEFAULT_TARGET = _type_tag(_BUILTIN_TARGET_SETTINGS[0])


class PluginTargetSettings(PluginSettings):
    """A third party's target (``safeship.targets`` entry point): its type and its own keys."""

    group: ClassVar[str] = TARGETS

    def service_url(self) -> str | None:
        return None  # a third party's release reports its URL itself

    @property
    def routes_itself(self) -> bool:
        """The adapter's own answer (``Target.routes_itself``), read from its class."""
        from safeship.plugins import load_adapter

        return bool(load_adapter(TARGETS, self.type).routes_itself)


def _target_tag(value: object) -> str:
    """The target's ``type``; the default target's when the table has none."""
    if isinstance(value, dict):
        return str(value.get("type", _DEFAULT_TARGET))
    return str(getattr(value, "type", _DEFAULT_TARGET))


def _target_union_tag(value: object) -> str:
    kind = _target_tag(value)
    return kind if kind in _TARGETS_BY_TYPE else "plugin"


def _routes_itself(target: object) -> bool:
    """Whether a target (its table, or its validated settings) routes its own traffic."""
    if isinstance(target, dict):
        kind = _target_tag(target)
        model = _TARGETS_BY_TYPE.get(kind)
        if model is not None:
            return model.routes_itself
        try:
            return PluginTargetSettings(type=kind).routes_itself
        except Exception:  # not installed: the target's own validation reports it
            return False
    if isinstance(target, (*_BUILTIN_TARGET_SETTINGS, PluginTargetSettings)):
        return target.routes_itself
    return False


def _one_of(names: list[str]) -> str:
    """ "a", "a or b", "a, b or c"."""
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


# The router a self-routing target gets when its environment names none: the one router that
# does not split traffic.
_SELF_ROUTING_ROUTER = next(t for t, m in _ROUTERS_BY_TYPE.items() if not m.splits_traffic)
# The router an ssh target (releases on several hosts) gets when its environment names none.
_FLEET_TARGET = _type_tag(SshTargetSettings)
_FLEET_ROUTER = _type_tag(HaproxyRouterSettings)


TargetSettings = Annotated[
    Annotated[LocalTargetSettings, Tag(_type_tag(LocalTargetSettings))]
    | Annotated[RailwayTargetSettings, Tag(_type_tag(RailwayTargetSettings))]
    | Annotated[CommandTargetSettings, Tag(_type_tag(CommandTargetSettings))]
    | Annotated[SshTargetSettings, Tag(_type_tag(SshTargetSettings))]
    | Annotated[PluginTargetSettings, Tag("plugin")],
    Discriminator(_target_union_tag),
]


class RollbackRules(SettingsModel):
    # Roll back when the canary's error rate over the bake window exceeds this fraction.
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.05
    # ... judged only once the window holds at least this many requests.
    min_requests: Count = 20
    # Roll back at once when the health check answers 5xx or the release process exits.
    on_health_5xx: bool = True
    on_process_exit: bool = True
    # Failures in a row that roll back: health checks failing or timing out, a dependency
    # degraded, a non-critical smoke flow failing. (A critical deep or smoke check failing,
    # e.g. the database unreachable, rolls back at once.)
    consecutive_failures: Annotated[int, Field(ge=1, le=1000)] = 3
    # Seconds a condition must hold at every poll to roll back (latency, resources, database
    # pool); canary_window at a canary step below 100%, where less traffic is at risk.
    window: Annotated[float, Field(gt=0, le=86400)] = 300.0
    canary_window: Annotated[float, Field(gt=0, le=86400)] = 10.0
    # The release's p95 latency over the window above this factor x the baseline p95: the
    # stable release's over the same window (with min_latency_samples requests), else the
    # previous good deployment's stored level-4 baseline; without either, the rule waits.
    latency_factor: Annotated[float, Field(gt=1, le=1000)] = 2.0
    min_latency_samples: Count = 20
    # CPU of the release's processes as a fraction of one core, and RSS as a fraction of
    # memory_limit_mb when set (local releases only: they are sampled with psutil).
    resource_utilization: Annotated[float, Field(gt=0, le=64)] = 0.9
    memory_limit_mb: Annotated[float | None, Field(gt=0, le=16 * 1024 * 1024)] = None
    # Connections in use / max_connections from the PostgreSQL dependency checks.
    db_pool_utilization: Annotated[float, Field(gt=0, le=1)] = 0.95
    # Seconds between re-runs of the deep/dependency and smoke checks during a bake (0: they
    # run only before traffic moves).
    checks_interval: Annotated[float, Field(ge=0, le=3600)] = 5.0


class BlueGreenSettings(SettingsModel):
    # Seconds the old release (blue) stays running after the switch: the rules keep watching
    # green, and a rollback sends traffic straight back to blue. Then blue is stopped.
    keep_warm: Annotated[float, Field(ge=0, le=86400)] = 30.0


class EnvironmentSettings(SettingsModel):
    # target and router come first: the validators of port and strategy read them.
    target: TargetSettings
    # Default: the platform router for targets that route themselves (railway, command), else
    # the builtin router.
    router: Annotated[RouterSettings, Field(discriminator="type")] = Field(
        default_factory=BuiltinRouterSettings
    )
    # Where the router listens; required for the builtin and nginx routers, unused by platform.
    port: Annotated[int | None, Field(ge=1, le=65535, validate_default=True)] = None
    # Default: "all-at-once" with the platform router (it cannot split traffic), else "canary".
    strategy: Literal["all-at-once", "canary", "blue-green"] = "canary"
    # Canary traffic percentages, increasing, ending at 100.
    steps: Annotated[list[int], Field(max_length=100)] = Field(
        default_factory=lambda: [10, 50, 100]
    )
    # Seconds to watch each step before moving on.
    bake_time: Annotated[float, Field(ge=0, le=3600)] = 5.0
    # Canary steps (below 100) that wait after their bake for `safeship promote ENV` (or
    # `safeship abort ENV`), the rules still running; no answer in pause_timeout seconds
    # rolls back.
    pause_at: Annotated[list[int], Field(max_length=100)] = Field(default_factory=list)
    pause_timeout: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    # Seconds of watching after full traffic (status "monitoring"): the rules keep running
    # and can still roll back to the previous release, which runs until the window ends.
    # 0: off. The seed's typical values: staging 300, production 900.
    monitor_time: Annotated[float, Field(ge=0, le=86400)] = 0.0
    # Seconds a release that left traffic is given to finish its requests in flight before it
    # is stopped (it stops as soon as the router counts none; a router that cannot count them
    # waits for the release's longest answer so far, within this bound). Default: the builtin
    # router's upstream timeout.
    drain_timeout: Annotated[float, Field(ge=0, le=3600)] = 30.0
    blue_green: BlueGreenSettings = Field(default_factory=BlueGreenSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    rollback: RollbackRules = Field(default_factory=RollbackRules)
    # The canary judge (canary vs stable at each canary step below 100%); None: off.
    analysis: JudgeSettings | None = None
    metrics: MetricSourceSettings = Field(default_factory=MetricSourceSettings)
    # The chain: a version is deployed here only after it succeeded in each of these
    # environments (its verification passed), no longer than max_age seconds ago.
    requires: Annotated[list[EnvironmentName], Field(max_length=20)] = Field(default_factory=list)
    max_age: Annotated[float, Field(gt=0, le=366 * 86_400)] = 7 * 86_400.0
    # The gates before the release starts (approval, freeze, capacity, backup, migration).
    gates: GatesSettings = Field(default_factory=GatesSettings)
    # After a deploy that succeeded: the release tag, the artifacts, the stakeholders' news.
    post_deploy: PostDeploySettings = Field(default_factory=PostDeploySettings)
    outage: OutageSettings = Field(default_factory=OutageSettings)  # its availability probe

    @model_validator(mode="before")
    @classmethod
    def _platform_defaults(cls, data: Any) -> Any:
        """Self-routing targets default to the router that does not split traffic, which
        defaults to all-at-once."""
        if not isinstance(data, dict):
            return data
        target = data.get("target")
        if isinstance(target, dict) and "type" not in target:
            # In place, not on a copy: the loader maps an error's location onto the file's data,
            # and drops the union's tag (the default's) only where the table's type names it.
            target["type"] = _DEFAULT_TARGET
        data = dict(data)
        if "router" not in data and _routes_itself(target):
            data["router"] = {"type": _SELF_ROUTING_ROUTER}
        elif "router" not in data and _target_tag(target) == _FLEET_TARGET:
            data["router"] = {"type": _FLEET_ROUTER}  # hosts need a router across them
        router = data.get("router")
        if isinstance(router, dict):
            model = _ROUTERS_BY_TYPE.get(str(router.get("type")))
            if model is not None and not model.splits_traffic:
                data.setdefault("strategy", "all-at-once")
        return data

    @field_validator("router")
    @classmethod
    def _router_fits_target(cls, router: RouterSettings, info: ValidationInfo) -> RouterSettings:
        target = info.data.get("target")
        if target is None:  # the target is invalid: that error is reported on its own
            return router
        kind = _target_tag(target)
        routes_itself = _routes_itself(target)
        if not router.splits_traffic and not routes_itself:
            splitting = _one_of([t for t, m in _ROUTERS_BY_TYPE.items() if m.splits_traffic])
            own = ", ".join(t for t, m in _TARGETS_BY_TYPE.items() if m.routes_itself)
            raise ValueError(
                f"the {router.type} router is for targets that route themselves ({own}); "
                f"the {kind} target needs the {splitting} router"
            )
        if router.splits_traffic and routes_itself:
            raise ValueError(
                f"the {kind} target routes its own traffic: use "
                f'router = {{ type = "{_SELF_ROUTING_ROUTER}" }}'
            )
        if isinstance(target, SshTargetSettings) and not router.serves_fleets:
            fleet = _one_of([t for t, m in _ROUTERS_BY_TYPE.items() if m.serves_fleets])
            raise ValueError(
                f"the {router.type} router serves one machine; the ssh target's hosts need "
                f"the {fleet} router"
            )
        return router

    @field_validator("port")
    @classmethod
    def _port_for_local_routers(cls, port: int | None, info: ValidationInfo) -> int | None:
        router = info.data.get("router")
        if port is None and router is not None and router.splits_traffic:
            raise PydanticCustomError("missing", "Field required")
        return port

    @field_validator("strategy")
    @classmethod
    def _platform_is_all_at_once(cls, strategy: str, info: ValidationInfo) -> str:
        router = info.data.get("router")
        if router is not None and not router.splits_traffic and strategy != "all-at-once":
            raise ValueError(
                f"{strategy} needs a router that splits traffic; the {router.type} router serves "
                f'one release at a time: use strategy = "all-at-once"'
            )
        return strategy

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


class SafeshipConfig(SettingsModel):
    project: ProjectSettings = Field(default_factory=ProjectSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    environments: dict[EnvironmentName, EnvironmentSettings]
    # Deploy paths in failover order (`safeship paths check`); not yet used by `deploy`.
    paths: PathsSettings = Field(default_factory=lambda: PathsSettings.model_validate({}))
    # The pre-push gate's checks (`safeship prepush`, the git hooks).
    prepush: PrepushSettings = Field(default_factory=PrepushSettings)
    # Optional: report every deploy as a GitHub deployment with statuses.
    github: GitHubSettings | None = None
    # Optional: the alert channels ([notify.NAME]; routing and grouping in [alerts]).
    notify: NotifySettings = Field(default_factory=NotifySettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)  # `safeship watch` between deploys
    alerts: AlertsTable = Field(default_factory=AlertSettings)  # routing, grouping, retries
    serve: ServeSettings = Field(default_factory=ServeSettings)  # `safeship serve`: the dashboard
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)  # DORA, §9 metrics
    jobs: JobsTable = Field(default_factory=JobsSettings)  # `safeship serve`'s background jobs
    artifacts: ArtifactsSettings = Field(default_factory=ArtifactsSettings)  # the file store
    secrets: SecretsTable = Field(default_factory=SecretsSettings)  # rotation (docs/secrets.md)

    @model_validator(mode="after")
    def _distinct_ports(self) -> SafeshipConfig:
        seen: dict[int, str] = {}
        for name, env in self.environments.items():
            if env.port is None:  # the platform router listens nowhere
                continue
            if env.port in seen:
                raise ValueError(f"environments {seen[env.port]} and {name} share port {env.port}")
            seen[env.port] = name
        return self

    @model_validator(mode="after")
    def _chain_is_known_and_acyclic(self) -> SafeshipConfig:
        for name, env in self.environments.items():
            unknown = [r for r in env.requires if r not in self.environments]
            if unknown:
                raise ValueError(
                    f"environments.{name}.requires names {', '.join(unknown)}, "
                    f"which {'is' if len(unknown) == 1 else 'are'} not configured"
                )
        for name in self.environments:
            _check_no_cycle(self.environments, name, ())
        return self
        from pydantic import ValidationError

        from safeship.rotation.base import validate_options

        for name, secret in self.secrets.rotate.items():
            where = f"secrets.rotate.{name}"
            for env in [*secret.environments, *secret.environment]:
                if env not in self.environments:
                    known = ", ".join(self.environments)
                    raise ValueError(
                        f"{where}: no environment {env!r} is configured (configured: {known})"
                    )
            for env in secret.environments or list(self.environments):
                try:
                    validate_options(secret.kind, secret.options(env))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    key = ".".join(str(part) for part in first["loc"])
                    raise ValueError(f"{where}.{key} ({env}): {first['msg']}") from None
        return self


def _check_no_cycle(
    environments: dict[str, EnvironmentSettings], name: str, path: tuple[str, ...]
) -> None:
    if name in path:
        cycle = " -> ".join((*path[path.index(name) :], name))
        raise ValueError(f"environments require each other in a cycle: {cycle}")
    for required in environments[name].requires:
        _check_no_cycle(environments, required, (*path, name))
