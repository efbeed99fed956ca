"""From a validated ``[environments.NAME.health]`` to runnable probes, with variables resolved.

``${NAME}`` placeholders (check URLs, header values, smoke request strings) take their value
from the environment here. Every such value is registered with safeship.redaction as a secret,
so it is masked in every line safeship prints, logs or stores. A variable that is not set, or a
URL that is not valid once resolved, is a config problem reported as ``file:line: key: message``
by ``safeship config check`` and before a deploy, not in the middle of one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from safeship.config import ConfigError, LoadedConfig
from safeship.config.health import (
    CheckSettings,
    HealthSettings,
    HttpCheckSettings,
    PostgresCheckSettings,
    RedisCheckSettings,
    TcpCheckSettings,
)
from safeship.config.loader import locate_key
from safeship.config.placeholders import check_url, placeholders, strings_in
from safeship.health.base import CheckFactory, Values
from safeship.health.deep import DeepEndpoint
from safeship.health.dependencies import HttpCheck, PostgresCheck, RedisCheck, TcpCheck
from safeship.health.request import statuses
from safeship.health.runner import Probe
from safeship.health.smoke import Flow, Step, substitute
from safeship.redaction import register_secret

Key = tuple[str, ...]


class ResolveError(Exception):
    """Variables missing or values invalid; ``problems`` holds (key under health, message)."""

    def __init__(self, problems: list[tuple[Key, str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(k)}: {m}" for k, m in problems))
        self.problems = problems


class _Resolver:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[tuple[Key, str]] = []

    def value(self, value: Any, key: Key) -> Any:
        """``value`` with its ${NAME} placeholders replaced; a missing variable is a problem."""
        names = [n for text in strings_in(value) for n in placeholders(text)[0]]
        env: dict[str, str] = {}
        for name in dict.fromkeys(names):
            if name not in self.environ:
                self.problems.append((key, f"environment variable {name} is not set"))
                continue
            env[name] = self.environ[name]
            register_secret(env[name])
        return substitute(value, None, env)

    def url(self, url: str, key: Key, schemes: tuple[str, ...]) -> str:
        resolved = str(self.value(url, key))
        if resolved != url:  # URLs without variables were checked when the file was loaded
            try:
                check_url(resolved, schemes)
            except ValueError as exc:
                self.problems.append((key, f"{exc} (after resolving variables)"))
        return resolved

    def headers(self, headers: Mapping[str, str], key: Key) -> dict[str, str]:
        return {name: str(self.value(v, (*key, name))) for name, v in headers.items()}

    def done(self) -> None:
        if self.problems:
            raise ResolveError(self.problems)


def dependency_probes(
    settings: HealthSettings, environ: Mapping[str, str] | None = None
) -> list[Probe]:
    """safeship's own dependency checks (level 2), in config order."""
    r = _Resolver(os.environ if environ is None else environ)
    probes = _dependencies(settings, r)
    r.done()
    return probes


def _dependencies(settings: HealthSettings, r: _Resolver) -> list[Probe]:
    """Each ``[[health.checks]]`` table built by the factory its ``type`` names in the
    ``safeship.checks`` entry point group (built-in or a third party's)."""
    from safeship.plugins import CHECKS, load_adapter

    probes: list[Probe] = []
    for index, check in enumerate(settings.checks):
        factory: CheckFactory = load_adapter(CHECKS, check.type)
        probes.append(factory(check, _Scoped(r, ("checks", str(index)))))
    return probes


class _Scoped:
    """The resolver for one check: its keys under the check's own (``checks.N``)."""

    def __init__(self, resolver: _Resolver, prefix: Key) -> None:
        self._resolver = resolver
        self._prefix = prefix

    def value(self, value: Any, key: Key) -> Any:
        return self._resolver.value(value, (*self._prefix, *key))

    def url(self, url: str, key: Key, schemes: tuple[str, ...]) -> str:
        return self._resolver.url(url, (*self._prefix, *key), schemes)

    def headers(self, headers: Mapping[str, str], key: Key) -> dict[str, str]:
        return self._resolver.headers(headers, (*self._prefix, *key))


# The built-in checks' factories (the ``safeship.checks`` entry points in pyproject.toml).


def _common(check: CheckSettings) -> dict[str, Any]:
    return {
        "name": f"{check.type}:{check.name}",
        "timeout": check.timeout,
        "critical": check.critical,
    }


def postgres_check(check: PostgresCheckSettings, values: Values) -> PostgresCheck:
    return PostgresCheck(
        url=values.url(check.url, ("url",), ("postgresql", "postgres")),
        latency_budget_ms=check.latency_budget_ms,
        pool_alarm=check.pool_alarm,
        **_common(check),
    )


def redis_check(check: RedisCheckSettings, values: Values) -> RedisCheck:
    return RedisCheck(
        url=values.url(check.url, ("url",), ("redis", "rediss")),
        latency_budget_ms=check.latency_budget_ms,
        memory_alarm=check.memory_alarm,
        **_common(check),
    )


def http_check(check: HttpCheckSettings, values: Values) -> HttpCheck:
    return HttpCheck(
        url=values.url(check.url, ("url",), ("http", "https")),
        method=check.method,
        headers=values.headers(check.headers, ("headers",)),
        expect_status=statuses(check.expect_status),
        latency_budget_ms=check.latency_budget_ms,
        expect_json=check.expect_json,
        assertions=tuple(check.assertions),
        **_common(check),
    )


def tcp_check(check: TcpCheckSettings, values: Values) -> TcpCheck:
    return TcpCheck(
        host=check.host,
        port=check.port,
        latency_budget_ms=check.latency_budget_ms,
        **_common(check),
    )


def deep_probes(
    base_url: str, settings: HealthSettings, environ: Mapping[str, str] | None = None
) -> list[Probe]:
    """Level 2: the app's deep endpoint (when configured) and the dependency checks."""
    r = _Resolver(os.environ if environ is None else environ)
    probes: list[Probe] = []
    if settings.deep is not None:
        deep = settings.deep
        probes.append(
            DeepEndpoint(base_url, deep.path, deep.timeout, deep.critical, deep.latency_budget_ms)
        )
    probes += _dependencies(settings, r)
    r.done()
    return probes


def smoke_probes(
    base_url: str, settings: HealthSettings, environ: Mapping[str, str] | None = None
) -> list[Probe]:
    """Level 3: one probe per smoke flow (empty when no smoke section is configured)."""
    r = _Resolver(os.environ if environ is None else environ)
    probes = _flows(base_url, settings, r)
    r.done()
    return probes


def _flows(base_url: str, settings: HealthSettings, r: _Resolver) -> list[Probe]:
    if settings.smoke is None:
        return []
    flows: list[Probe] = []
    for f, flow in enumerate(settings.smoke.flows):
        steps = []
        for s, step in enumerate(flow.steps):
            key: Key = ("smoke", "flows", str(f), "steps", str(s))
            steps.append(
                Step(
                    label=step.label,
                    method=step.method,
                    path=str(r.value(step.path, (*key, "path"))),
                    timeout=step.timeout or settings.smoke.timeout,
                    headers=r.headers(step.headers, (*key, "headers")),
                    body=r.value(step.body, (*key, "json")),
                    expect_status=statuses(step.expect_status),
                    latency_budget_ms=step.latency_budget_ms,
                    assertions=tuple(step.assertions),
                    capture=dict(step.capture),
                )
            )
        flows.append(Flow(flow.name, base_url, tuple(steps), flow.critical))
    return flows


def config_problems(
    loaded: LoadedConfig,
    environments: Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Problems resolving each environment's health settings, as ``file:line: key: message``."""
    env = os.environ if environ is None else environ
    source: str | None = None
    lines: list[str] = []
    names = loaded.config.environments if environments is None else environments
    for name in names:
        if name not in loaded.config.environments:
            continue  # an unknown environment is reported where it is opened
        settings = loaded.config.environments[name].health
        r = _Resolver(env)
        _dependencies(settings, r)
        _flows("http://127.0.0.1", settings, r)
        for key, message in r.problems:
            if source is None:
                source = loaded.path.read_text(encoding="utf-8")
            path = ("environments", name, "health", *key)
            line = locate_key(source, path)
            lines.append(f"{loaded.path.name}:{line or '?'}: {'.'.join(path)}: {message}")
    return lines


def require_resolvable(
    loaded: LoadedConfig, environment: str, environ: Mapping[str, str] | None = None
) -> None:
    """Raise ConfigError (one line per problem) when ``environment``'s checks cannot resolve."""
    problems = config_problems(loaded, [environment], environ)
    if problems:
        raise ConfigError(problems)
