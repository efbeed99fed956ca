"""Health on its own: check a URL, run the smoke flows, sample a baseline. Plain arguments in,
reports out; rendering is the face's.

The checks (httpx, asyncio) are imported by the operation that runs them: importing the core
stays light."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from safeship.config import LoadedConfig
from safeship.config.health import BaselineSettings, DeepSettings, HealthSettings
from safeship.config.placeholders import check_url
from safeship.health.base import CheckResult, Overall, overall
from safeship.redaction import register_secret

if TYPE_CHECKING:  # `safeship health URL` never opens the registry (SQLAlchemy, Alembic)
    from safeship.health.baseline import Baseline
    from safeship.health.verify import BaselineReport
    from safeship.registry import DeploymentRecord


class UsageError(Exception):
    """The command was asked something it cannot do; one line for the user (exit 2)."""


@dataclass(frozen=True)
class HealthReport:
    target: str
    results: list[CheckResult]

    @property
    def verdict(self) -> Overall:
        return overall(self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "status": self.verdict,
            "checks": [r.as_dict() for r in self.results],
        }


def _base_url(url: str) -> str:
    try:
        check_url(url, ("http", "https"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return url.rstrip("/")


def check_service(
    url: str,
    *,
    deep: bool = False,
    path: str = "/api/health",
    deep_path: str = "/api/health/deep",
    timeout: float = 5.0,
) -> HealthReport:
    """Level 1 (one attempt) and, with ``deep``, the app's deep endpoint, at ``url``."""
    from safeship.health.basic import check_http
    from safeship.health.deep import DeepEndpoint
    from safeship.health.runner import run_sync

    base = _base_url(url)
    # A password in the URL is a secret from now on: masked in whatever quotes it.
    with contextlib.suppress(ValueError):
        register_secret(urlsplit(base).password)
    try:
        settings = HealthSettings(path=path, timeout=timeout)
    except ValidationError as exc:
        raise UsageError(_first_error(exc)) from None
    try:
        deep_settings = DeepSettings(path=deep_path, timeout=timeout)
    except ValidationError as exc:
        raise UsageError(_first_error(exc, "deep")) from None
    results = [check_http(base, settings)]
    if deep:
        results += run_sync([DeepEndpoint(base, deep_settings.path, deep_settings.timeout)])
    return HealthReport(base, results)


def _first_error(exc: ValidationError, prefix: str = "") -> str:
    """The first problem, named as the command-line option that caused it."""
    error = exc.errors()[0]
    parts = [str(part) for part in error["loc"]]
    key = "-".join([prefix, *parts] if prefix else parts)
    option = "--" + key.replace("_", "-")
    return f"{option}: {str(error['msg']).removeprefix('Value error, ')}"


def _environment(loaded: LoadedConfig, environment: str | None, wants: str) -> str:
    """The environment named, or the only one configured; else a usage error."""
    from safeship.pipeline.environment import open_environment

    if environment is not None:
        if environment not in loaded.config.environments:
            open_environment(loaded, environment)  # raises the config error, at file:line
        return environment
    names = sorted(loaded.config.environments)
    if len(names) == 1:
        return names[0]
    raise UsageError(f"name the environment to {wants}: {', '.join(names)}")


def _environment_url(loaded: LoadedConfig, environment: str) -> str:
    """Where ``environment`` serves: its router's port on this machine; with the platform
    router, the serving release's URL (else the URL the target's settings give); else a usage
    error asking for --url."""
    from safeship.pipeline.environment import open_environment
    from safeship.targets.base import TargetError

    settings = loaded.config.environments[environment]
    if settings.router.type != "platform" and settings.port is not None:
        return f"http://127.0.0.1:{settings.port}"
    why = ""
    try:
        releases = open_environment(loaded, environment).target.releases()
    except TargetError as exc:
        releases, why = [], f" ({str(exc).rstrip('.')})"
    # A platform target's settings may name the service's URL (no API call, no token).
    url = next((r.url for r in reversed(releases) if r.url), None) or settings.target.service_url()
    if url:
        return _base_url(url)
    raise UsageError(
        f"{environment} is routed by its platform ({settings.target.type} target) and no "
        f"release URL is known{why}: give the service's URL with --url"
    )


def smoke(loaded: LoadedConfig, environment: str | None, url: str | None) -> HealthReport:
    """Run ``environment``'s smoke flows against its port, or against ``url``."""
    from safeship.health.resolve import require_resolvable, smoke_probes
    from safeship.health.runner import run_sync

    name = _environment(loaded, environment, "smoke-test")
    settings = loaded.config.environments[name].health
    if settings.smoke is None or not settings.smoke.flows:
        raise UsageError(f"environments.{name}.health.smoke has no flows to run")
    require_resolvable(loaded, name)
    base = _base_url(url) if url else _environment_url(loaded, name)
    results = run_sync(smoke_probes(base, settings), settings.max_connections)
    return HealthReport(base, results)


@dataclass(frozen=True)
class BaselineRun:
    target: str
    report: BaselineReport

    @property
    def failed(self) -> bool:
        """A regression beyond the thresholds, or no request answered at all."""
        return bool(self.report.regressions) or self.report.current.mean_ms is None


def baseline(
    loaded: LoadedConfig | None,
    environment: str | None,
    url: str | None,
    overrides: dict[str, Any],
) -> BaselineRun:
    """Sample ``url`` (or the environment's port) and compare with the environment's last
    successful deployment's stored baseline, when there is an environment."""
    if loaded is None:
        if url is None:
            raise UsageError("give an environment or --url")
        return BaselineRun(_base_url(url), _sample(_base_url(url), BaselineSettings(), overrides))
    name = _environment(loaded, environment, "measure")
    health = loaded.config.environments[name].health
    configured = health.baseline or BaselineSettings()
    base = _base_url(url) if url else _environment_url(loaded, name)
    previous, stored, pid = _last_good(loaded, name)
    if url:
        pid = None  # the serving release's processes are not what --url measures
    return BaselineRun(
        base,
        _sample(
            base,
            configured,
            overrides,
            pid=pid,
            previous=stored,
            previous_version=previous.version if previous else None,
            max_connections=health.max_connections,
        ),
    )


def _sample(
    base: str, configured: BaselineSettings, overrides: dict[str, Any], **kwargs: Any
) -> BaselineReport:
    from safeship.health.verify import run_baseline

    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = BaselineSettings.model_validate({**configured.model_dump(), **values})
    except ValidationError as exc:
        raise UsageError(_first_error(exc)) from None
    return run_baseline(base, settings, **kwargs)


def _last_good(
    loaded: LoadedConfig, environment: str
) -> tuple[DeploymentRecord | None, Baseline | None, int | None]:
    """The environment's last succeeded deployment, its stored baseline and the pid of its
    running release."""
    from safeship.health.verify import stored_baseline
    from safeship.pipeline.environment import open_environment
    from safeship.registry import Registry
    from safeship.targets.base import TargetError

    with Registry(loaded.registry_url()) as registry:
        previous = registry.last_succeeded(environment)
        record = registry.baseline_for(environment, previous.version) if previous else None
    if previous is None:
        return None, None, None
    stored = stored_baseline(record)
    try:
        releases = open_environment(loaded, environment).target.releases()
    except TargetError:  # e.g. no platform token: the pid only adds CPU and memory figures
        return previous, stored, None
    pid = next((r.pid for r in releases if r.version == previous.version), None)
    return previous, stored, pid


def level_name(level: int) -> str:
    """A check's level as a person reads it (``basic``, ``deep``...)."""
    from safeship.health.verify import LEVEL_NAMES

    return LEVEL_NAMES.get(level, str(level))
