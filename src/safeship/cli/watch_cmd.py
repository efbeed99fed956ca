"""safeship watch ENV [--interval S] [--once] [--for DURATION]: one line per check."""

from __future__ import annotations

import sys
from pathlib import Path

from safeship import core
from safeship.cli.common import load
from safeship.redaction import redact


def run(
    config: Path | None,
    environment: str,
    interval: float | None,
    *,
    once: bool = False,
    duration: str | None = None,
) -> int:
    """Exit 0 when the last check found the environment healthy (or had nothing to check),
    1 when a condition was in force or the check failed, 2 on a usage error; Ctrl-C ends it
    (exit 0)."""
    loaded = load(config)
    last: list[core.WatchReport] = []

    def report(checked: core.WatchReport) -> None:
        last[:] = [checked]
        print(redact(describe(checked)), flush=True)

    try:
        core.watch(
            loaded, environment, interval=interval, once=once, duration=duration, on_report=report
        )
    except core.UsageError as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 1 if last and (last[0].active or last[0].failed) else 0


def describe(report: core.WatchReport) -> str:
    """``12:00:05 production v1.4.0: degraded: error_rate.high (began) | 812 req, ...``."""
    head = f"{report.at.strftime('%H:%M:%S')} {report.environment}"
    if report.skipped:
        return f"{head}: skipped: {report.skipped}"
    state = (
        "healthy"
        if report.healthy
        else "degraded: "
        + ", ".join(name + (" (began)" if name in report.began else "") for name in report.active)
    )
    figures = [f"health {_health(report)}"]
    if report.error_rate is not None:
        figures.append(f"{report.requests} req, {report.error_rate:.1%} errors")
    else:
        figures.append(f"{report.requests} req (too few to judge)")
    if report.p95_ms is not None:
        base = f" (baseline {report.baseline_p95_ms:.0f} ms)" if report.baseline_p95_ms else ""
        figures.append(f"p95 {report.p95_ms:.0f} ms{base}")
    text = f"{head} {report.version}: {state} | {', '.join(figures)}"
    if report.cleared:
        text += f" | recovered: {', '.join(report.cleared)}"
    return text


def _health(report: core.WatchReport) -> str:
    failing = [r for r in report.health if not r.ok]
    if not failing:
        return "ok"
    return "; ".join(
        f"{r.name} {r.status}" + (f" ({r.detail})" if r.detail else "") for r in failing
    )
