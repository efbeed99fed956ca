"""The ``[environments.NAME.health]`` part of safeship.toml: the four levels of verification.

Level 1 (basic) is the table's own keys; level 2 is ``deep`` (the app's deep endpoint) and
``checks`` (safeship's own dependency checks); level 3 is ``smoke``; level 4 is ``baseline``.
Levels 2-4 are off until their section is present.

Two kinds of placeholder appear in strings: ``${NAME}`` is an environment variable (allowed in
check URLs, header values and smoke request strings; its value is treated as a secret and
masked in all output), ``{name}`` in a smoke step is a value captured by an earlier step of the
same flow. The syntax is checked here; whether a variable is set is checked by
``safeship config check`` and before a deploy (see safeship.health.resolve), because it depends
on the machine, not on the file.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from safeship.config.placeholders import (
    NAME,
    check_url,
    parse_json_path,
    placeholders,
    strings_in,
)
from safeship.plugins import CHECKS, PluginSettings
from safeship.settings_model import SettingsModel
from safeship.validation import check_header, check_text, check_url_path, check_url_text

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Seconds = Annotated[float, Field(gt=0, le=600)]
Milliseconds = Annotated[float, Field(gt=0, le=600_000)]
Ratio = Annotated[float, Field(gt=0, le=1)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
# A flow's or a step's name, printed in every report.
Label = Annotated[str, AfterValidator(lambda name: check_text("name", name, 100))]
Length = Annotated[int, Field(ge=0, le=1_000_000_000)]


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, int) else value


# One status or a list of them: expect_status = 200, or expect_status = [200, 204].
Statuses = Annotated[list[HttpStatus], BeforeValidator(_listed), Field(min_length=1)]


class _Model(SettingsModel):
    model_config = ConfigDict(populate_by_name=True)


def _url_or_reference(url: str, schemes: tuple[str, ...], host_required: bool = True) -> str:
    check_url_text(url)
    env, captures = placeholders(url)
    if captures:
        raise ValueError("only ${NAME} environment variables can be used in a check URL")
    if env:
        return url  # checked once the variable is resolved (safeship config check, deploy)
    return check_url(url, schemes, host_required=host_required)


def _no_captures(text: str) -> str:
    _, captures = placeholders(text)
    if captures:
        raise ValueError(f"{{{captures[0]}}} is only available in smoke steps")
    return text


def _absolute_path(path: str) -> str:
    """An absolute URL path on the service's own host (no dot segments, CR/LF or controls)."""
    return check_url_path(path)


def _headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        check_header(name, value)
        _no_captures(value)
    return headers


def _step_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        check_header(name, value)
    return headers


class Assertion(_Model):
    """One assertion on a JSON body; every condition given must hold."""

    path: str = "$"
    equals: Any = None
    exists: bool | None = None
    is_array: bool | None = None
    length: Length | None = None
    min_length: Length | None = None

    @field_validator("path")
    @classmethod
    def _valid_path(cls, path: str) -> str:
        parse_json_path(path)
        return path

    @model_validator(mode="after")
    def _something_to_check(self) -> Assertion:
        conditions = {"equals", "exists", "is_array", "length", "min_length"}
        if not conditions & self.model_fields_set:
            raise ValueError("needs one of: equals, exists, is_array, length, min_length")
        return self


class DeepSettings(_Model):
    """Level 2a: the app's own deep endpoint, parsed and judged check by check."""

    path: str = "/api/health/deep"
    timeout: Seconds = 5.0
    # A check the app reports slower than this (its "latency", ms) is degraded.
    latency_budget_ms: Milliseconds | None = None
    critical: bool = True

    _path = field_validator("path")(_absolute_path)


class _Check(_Model):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    timeout: Seconds = 5.0
    # A failed critical check stops a deployment; a failed non-critical one only degrades it.
    critical: bool = True


class PostgresCheckSettings(_Check):
    """Connect, time ``SELECT 1``, and compare connections in use with max_connections."""

    type: Literal["postgres"]
    url: str
    latency_budget_ms: Milliseconds = 100.0
    pool_alarm: Ratio = 0.8

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _url_or_reference(url, ("postgresql", "postgres"))


class RedisCheckSettings(_Check):
    """PING latency and used_memory / maxmemory from INFO."""

    type: Literal["redis"]
    url: str
    latency_budget_ms: Milliseconds = 50.0
    memory_alarm: Ratio = 0.9

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _url_or_reference(url, ("redis", "rediss"))


class HttpCheckSettings(_Check):
    """Any HTTP API: status, latency, optionally a JSON body and assertions on it."""

    type: Literal["http"]
    url: str
    method: HttpMethod = "GET"
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(default_factory=dict)
    expect_status: Statuses = Field(default_factory=lambda: [200])
    latency_budget_ms: Milliseconds = 1000.0
    expect_json: bool = False
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _url_or_reference(url, ("http", "https"))


class TcpCheckSettings(_Check):
    """A TCP connect to host:port."""

    type: Literal["tcp"]
    host: Annotated[str, Field(min_length=1, max_length=253), AfterValidator(check_url_text)]
    port: Annotated[int, Field(ge=1, le=65535)]
    latency_budget_ms: Milliseconds = 100.0


class PluginCheckSettings(PluginSettings, _Check):
    """A third party's check (``safeship.checks`` entry point): name, timeout, critical, and
    its own keys."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    group: ClassVar[str] = CHECKS


_BUILTIN_CHECKS = frozenset({"postgres", "redis", "http", "tcp"})


def _check_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _BUILTIN_CHECKS else "plugin"


CheckSettings = Annotated[
    Annotated[PostgresCheckSettings, Tag("postgres")]
    | Annotated[RedisCheckSettings, Tag("redis")]
    | Annotated[HttpCheckSettings, Tag("http")]
    | Annotated[TcpCheckSettings, Tag("tcp")]
    | Annotated[PluginCheckSettings, Tag("plugin")],
    Discriminator(_check_tag),
]


class StepSettings(_Model):
    """One request of a smoke flow."""

    name: Label | None = None
    method: HttpMethod = "GET"
    path: str
    headers: Annotated[dict[str, str], AfterValidator(_step_headers)] = Field(default_factory=dict)
    body: Any = Field(default=None, alias="json")
    expect_status: Statuses = Field(default_factory=lambda: [200])
    latency_budget_ms: Milliseconds | None = None
    timeout: Seconds | None = None
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")
    # Values taken from this step's JSON answer for later steps: {name = "json.path"}.
    capture: dict[str, str] = Field(default_factory=dict)

    _path = field_validator("path")(_absolute_path)

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"

    def templates(self) -> list[str]:
        """Every string of the request that may hold placeholders."""
        return [self.path, *self.headers.values(), *strings_in(self.body)]

    @field_validator("capture")
    @classmethod
    def _capture(cls, capture: dict[str, str]) -> dict[str, str]:
        for name, path in capture.items():
            if not NAME.fullmatch(name):
                raise ValueError(f"capture name {name!r} is not a valid identifier")
            parse_json_path(path)
        return capture

    @model_validator(mode="after")
    def _placeholder_syntax(self) -> StepSettings:
        for text in self.templates():
            placeholders(text)
        return self


class FlowSettings(_Model):
    """A smoke test: steps run in order, each may use values captured by the earlier ones."""

    name: Label
    critical: bool = True
    steps: Annotated[list[StepSettings], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _captures_defined_before_use(self) -> FlowSettings:
        known: set[str] = set()
        for number, step in enumerate(self.steps, start=1):
            for text in step.templates():
                for name in placeholders(text)[1]:
                    if name not in known:
                        raise ValueError(
                            f"step {number} ({step.label}) uses {{{name}}}, "
                            "which no earlier step captures"
                        )
            known |= step.capture.keys()
        return self


class SmokeSettings(_Model):
    """Level 3: flows of requests against the critical paths; flows run concurrently."""

    timeout: Seconds = 10.0  # per step, unless the step sets its own
    flows: Annotated[list[FlowSettings], Field(max_length=100)] = Field(default_factory=list)

    @field_validator("flows")
    @classmethod
    def _distinct_names(cls, flows: list[FlowSettings]) -> list[FlowSettings]:
        names = [flow.name for flow in flows]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"flow names must be distinct: {', '.join(duplicates)}")
        return flows


class BaselineSettings(_Model):
    """Level 4: a bounded sample of requests, compared with the previous good deployment."""

    path: str = "/api/health"
    method: HttpMethod = "GET"
    requests: Annotated[int, Field(ge=1, le=100_000)] = 100
    concurrency: Annotated[int, Field(ge=1, le=200)] = 4
    timeout: Seconds = 5.0  # per request
    max_seconds: Seconds = 60.0  # the whole sample stops after this, however many were sent
    # Regression when mean > ratio x baseline, p95 > ratio x baseline, or the error rate
    # exceeds the baseline's by more than this fraction (0.01 = 1 percentage point).
    max_mean_ratio: Annotated[float, Field(ge=1, le=1000)] = 1.5
    max_p95_ratio: Annotated[float, Field(ge=1, le=1000)] = 2.0
    max_error_rate_increase: Annotated[float, Field(ge=0, le=1)] = 0.01
    # Latency changes smaller than this many ms are noise, whatever the ratio.
    min_latency_delta_ms: Annotated[float, Field(ge=0, le=600_000)] = 10.0
    on_regression: Literal["rollback", "warn"] = "rollback"

    _path = field_validator("path")(_absolute_path)


class HealthSettings(_Model):
    # Level 1: GET path until it answers 200 {"status": "healthy"}.
    path: str = "/api/health"
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    # Bounded retries while the release starts, with a short backoff between them.
    retries: Annotated[int, Field(ge=0, le=100)] = 20
    backoff: Annotated[float, Field(ge=0, le=10)] = 0.2
    # How often the pipeline re-checks health while a release takes traffic.
    interval: Annotated[float, Field(gt=0, le=60)] = 0.5
    # Whether a degraded verdict (slow, pool nearly full, ...) stops a deployment too.
    fail_on_degraded: bool = False
    # How many HTTP connections levels 2-4 may open at once.
    max_connections: Annotated[int, Field(ge=1, le=1000)] = 10
    deep: DeepSettings | None = None
    checks: Annotated[list[CheckSettings], Field(max_length=100)] = Field(default_factory=list)
    smoke: SmokeSettings | None = None
    baseline: BaselineSettings | None = None

    _path = field_validator("path")(_absolute_path)

    @field_validator("checks")
    @classmethod
    def _distinct_check_names(cls, checks: list[CheckSettings]) -> list[CheckSettings]:
        names = [check.name for check in checks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"check names must be distinct: {', '.join(duplicates)}")
        return checks
