"""Settings of the canary judge (``[environments.NAME.analysis]`` in safeship.toml) and of
where the rules and the judge read their figures (``[environments.NAME.metrics]``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from safeship.metrics import promql
from safeship.plugins import METRIC_SOURCES, is_registered, names
from safeship.settings_model import SettingsModel


class JudgeSettings(SettingsModel):
    """How the judge compares canary and stable, and what it does without enough data."""

    # Confidence of each one-sided test (Kayenta's Mann-Whitney default is 98%).
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.98
    # Error rate: "high" needs the canary's rate this many points (a fraction) above stable's.
    # Half a point: a canary failing 1 request in 100 beside a stable release failing none is
    # a regression (at 1 point it passed whenever its window showed a little under 1%).
    error_rate_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.005
    # ... or this fraction of stable's rate, whichever is larger (0.5: a canary at up to 1.5x
    # stable's rate passes), so a noisy count of a few errors does not fail a canary.
    error_rate_relative_tolerance: Annotated[float, Field(ge=0, le=100)] = 0.5
    # Latency: "high" needs the canary's latency this fraction above stable's (0.2: +20%) at
    # each of ``latency_quantiles`` (from the routers' histograms; the smallest ratio counts),
    # or in the mean when that is []. The median by default: a few slow requests in a heavy
    # tail (a GC pause) do not make a canary slow, nor hide one. Measured on a busy host, the
    # mean and the p95 follow the host's tail, which both releases share: a service twice as
    # slow read p50 x1.18-1.60, mean x0.92-1.48, p95 x0.94-1.60; gated on the mean and the
    # p95 (the previous default) it passed 1 of 3 such canaries in the independent
    # measurement. The mean, p50 and p95 ratios are recorded with every verdict either way.
    latency_tolerance: Annotated[float, Field(ge=0)] = 0.2
    # ... and the canary at least this many milliseconds above stable's (at the same quantiles,
    # or in the mean): below a
    # millisecond a fresh process's cold caches read as +30% (seen: a healthy canary at 1.3 ms
    # beside 1.0 ms judged "high"), a difference no user of a web service notices.
    latency_min_difference_ms: Annotated[float, Field(ge=0, le=60_000)] = 1.0
    latency_quantiles: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = (0.5,)
    # A canary's error rate above stable's by the tolerance whose p is below alpha is "high";
    # above by half the tolerance with p only below this, it is "undecided": not promoted at
    # the end of the bake, which is extended (up to nodata_extension) until the difference is
    # significant (then it fails) or gone (then it passes). Still undecided at the end of the
    # extension: it passes, saying so. 0 turns this off (promote at the end of the bake on
    # anything not significant). Latency is undecided the same way when its ratios are within
    # half the tolerance of "high".
    undecided_p: Annotated[float, Field(ge=0, le=1)] = 0.25
    # Minimum requests (error rate) and latency samples, per release, before a metric is judged.
    min_requests: Annotated[int, Field(ge=1)] = 50
    min_latency_samples: Annotated[int, Field(ge=1)] = 50
    # Score weights; a critical metric judged "high" fails the canary whatever the score.
    error_rate_weight: Annotated[float, Field(gt=0)] = 1.0
    latency_weight: Annotated[float, Field(gt=0)] = 1.0
    error_rate_critical: bool = True
    latency_critical: bool = False
    # Latency is judged on the window from this many seconds into the step (a new release's
    # first requests are slow while caches and pools fill: Kayenta's warm-up). Errors count
    # from the first request.
    warmup: Annotated[float, Field(ge=0, le=3600)] = 10.0
    # A failing judgement rolls back once it has held for this many seconds of polls, so a
    # canary's cold start or a short blip does not (a window over since the step began
    # keeps growing, so a real fault stays failing). 0: at the first failing poll.
    sustain: Annotated[float, Field(ge=0, le=3600)] = 5.0
    # The judge polls the growing window every few tenths of a second, and each poll is one
    # more chance for noise to look significant. A bake counts as one look per this many
    # seconds (at least one), and the looks share the confidence: each poll tests at
    # (1 - confidence) / looks (Bonferroni), so a whole bake's false alarms stay near
    # 1 - confidence however often it polls.
    look_interval: Annotated[float, Field(gt=0, le=3600)] = 10.0
    # Kayenta's thresholds: score >= pass passes, >= marginal keeps watching, below fails.
    pass_score: Annotated[float, Field(ge=0, le=100)] = 95.0
    marginal_score: Annotated[float, Field(ge=0, le=100)] = 75.0
    # Not enough data at the end of the bake: wait up to this many extra seconds, then apply
    # the policy. "pass" promotes with the reason recorded; it never passes silently.
    nodata_extension: Annotated[float, Field(ge=0, le=86400)] = 120.0
    nodata_policy: Literal["fail", "pass"] = "fail"

    @model_validator(mode="after")
    def _marginal_below_pass(self) -> JudgeSettings:
        if self.marginal_score > self.pass_score:
            raise ValueError("marginal_score must not exceed pass_score")
        return self

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence


class PrometheusQueries(SettingsModel):
    """The PromQL templates the ``prometheus`` source reads each release's window with
    (placeholders ``{release}``, ``{environment}``, ``{window}``; see
    :mod:`safeship.metrics.promql`). Defaults: the builtin router's own metric names."""

    # One number: the release's requests over the window.
    requests: str = promql.REQUESTS
    # One number: of those, the failed ones (5xx and connect errors).
    errors: str = promql.ERRORS
    # One number per `le` label (seconds, cumulative, as a Prometheus histogram): the
    # window's request durations. "" when the service has no histogram: latency is then
    # nodata for the judge and the latency rule waits.
    latency: str = promql.LATENCY

    @field_validator("requests", "errors", "latency")
    @classmethod
    def _one_line(cls, query: str) -> str:
        if len(query) > 4000:
            raise ValueError("a query is at most 4000 characters")
        return query

    @field_validator("requests", "errors")
    @classmethod
    def _names_the_window(cls, query: str) -> str:
        if "{window}" not in query:
            raise ValueError("the query must use the {window} placeholder (the judged span)")
        return query


class MetricSourceSettings(SettingsModel):
    """Where the rollback rules and the canary judge read each release's traffic."""

    # A name in the safeship.metric_sources plugin group: "router" (the environment's own
    # router's counters) or "prometheus" (PromQL over a Prometheus server's HTTP API).
    source: str = "router"
    # The Prometheus server's base URL (source = "prometheus"), e.g. http://127.0.0.1:9090.
    url: str | None = None
    # The environment variable holding a bearer token for the Prometheus API (a hosted
    # Prometheus, Mimir, Thanos behind a proxy); sent as `Authorization: Bearer ...`, never
    # shown. Basic auth: user:password@ in the URL (left out of every message).
    token_env: str | None = None
    # Seconds each query may take; a slower or failed query is an outage, not a figure.
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    # At most one round of queries per this many seconds: Prometheus' figures change once
    # per scrape, and the bake polls ten times a second.
    min_interval: Annotated[float, Field(ge=0, le=60)] = 1.0
    queries: PrometheusQueries = Field(default_factory=PrometheusQueries)

    @field_validator("source")
    @classmethod
    def _registered(cls, source: str) -> str:
        if not is_registered(METRIC_SOURCES, source):
            known = ", ".join(repr(n) for n in names(METRIC_SOURCES))
            raise ValueError(f"unknown metric source {source!r} (expected one of: {known})")
        return source

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _prometheus_has_url(self) -> MetricSourceSettings:
        if self.source == "prometheus" and self.url is None:
            raise ValueError('source = "prometheus" needs url, the Prometheus server\'s base URL')
        return self
