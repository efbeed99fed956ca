"""PromQL templates: the Prometheus source's built-in queries over the builtin router's own
metric names, and how a template's placeholders are filled.

A template is PromQL with placeholders, in the manner of Flagger's metric templates and
Argo's analysis templates: ``{release}`` and ``{environment}`` (inserted as the inside of a
PromQL string literal, so ``"{release}"`` in a label matcher; backslashes and quotes escaped),
``{window}`` (a range duration such as ``30s`` or ``2500ms``), and for the quantile template
``{quantile}`` (0-1). PromQL's own braces are left alone: only these exact tokens are replaced.

The judge and the rules read three figures per release over a window, each a query that
returns one number (or, for latency, one number per ``le``):

- ``requests``: the requests the release answered or failed to answer in the window;
- ``errors``: of those, 5xx responses and connect errors;
- ``latency``: the window's request-duration histogram, ``sum by (le)`` of the increase of
  a ``_bucket`` series in seconds (any bucket layout; it is read onto the router's buckets).

Request success rate, error rate and latency quantiles are derived templates, for dashboards,
alert rules and reports; the judge reads counts and the histogram because
its tests (Fisher's exact test, Mann-Whitney U) need them, not ratios.

Importing this module imports only math and re: the config models take their defaults from it.
"""

from __future__ import annotations

import math
import re

# The builtin router's metric names (safeship.metrics.router exposes them).
REQUESTS_METRIC = "safeship_router_requests_total"
DURATION_METRIC = "safeship_router_request_duration_seconds"
IN_FLIGHT_METRIC = "safeship_router_requests_in_flight"
WEIGHT_METRIC = "safeship_router_weight_ratio"
# Connect errors are requests too: their code_class (no status came back).
CONNECT_ERROR_CLASS = "connect_error"

_SELECTOR = 'environment="{environment}",release="{release}"'

REQUESTS = f"sum(increase({REQUESTS_METRIC}{{{_SELECTOR}}}[{{window}}]))"
ERRORS = (
    f"sum(increase({REQUESTS_METRIC}{{{_SELECTOR},"
    f'code_class=~"5xx|{CONNECT_ERROR_CLASS}"}}[{{window}}]))'
)
LATENCY = f"sum by (le) (increase({DURATION_METRIC}_bucket{{{_SELECTOR}}}[{{window}}]))"
ERROR_RATE = f"({ERRORS}) / ({REQUESTS})"
SUCCESS_RATE = f"1 - ({ERROR_RATE})"
LATENCY_QUANTILE = (
    f"histogram_quantile({{quantile}}, sum by (le) "
    f"(rate({DURATION_METRIC}_bucket{{{_SELECTOR}}}[{{window}}])))"
)

# Every built-in template by name (the docs list them).
TEMPLATES: dict[str, str] = {
    "requests": REQUESTS,
    "errors": ERRORS,
    "latency": LATENCY,
    "error_rate": ERROR_RATE,
    "success_rate": SUCCESS_RATE,
    "latency_quantile": LATENCY_QUANTILE,
}

PLACEHOLDERS = ("{release}", "{environment}", "{window}", "{quantile}")
_TOKEN = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


def promql_string(value: str) -> str:
    """``value`` escaped for the inside of a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def duration(seconds: float) -> str:
    """A PromQL range duration for ``seconds``, in whole milliseconds (at least 1 ms)."""
    if not math.isfinite(seconds):
        raise ValueError(f"a window must be finite, not {seconds}")
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def render(
    template: str,
    *,
    release: str,
    environment: str,
    window_seconds: float,
    quantile: float | None = None,
) -> str:
    """``template`` with its placeholders filled."""
    values = {
        "{release}": promql_string(release),
        "{environment}": promql_string(environment),
        "{window}": duration(window_seconds),
    }
    if quantile is not None:
        if not 0 <= quantile <= 1:
            raise ValueError(f"a quantile is from 0 to 1, not {quantile}")
        values["{quantile}"] = repr(float(quantile))
    # One pass: a value that happens to hold a token is not filled again.
    return _TOKEN.sub(lambda m: values.get(m.group(0), m.group(0)), template)
