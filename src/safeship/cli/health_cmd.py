"""safeship health URL, safeship smoke, safeship baseline: the levels on their own.

Exit codes: 0 healthy (degraded too, unless --strict), 1 unhealthy or a regression beyond the
thresholds, 2 usage or config error.

Every line goes through ``safeship.redaction.redact``: each text is redacted where it enters a
table (so a column too narrow cannot split a secret out of the mask's reach), and the rendered
output is redacted again as it is written (``_emit``), whatever it holds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from safeship import core
from safeship.cli.common import console, err_console, load
from safeship.core import BaselineRun, CheckResult, HealthReport, UsageError
from safeship.redaction import redact, redact_data

_STYLE = {
    "ok": "green",
    "degraded": "yellow",
    "failed": "red",
    "healthy": "green",
    "unhealthy": "red",
}


def _usage(exc: UsageError) -> int:
    err_console.print(f"safeship: error: {redact(str(exc))}", soft_wrap=True, markup=False)
    return 2


def _emit(*renderables: RenderableType) -> None:
    """Render to text, then write it redacted: the one way this module prints a table."""
    with console.capture() as captured:
        for renderable in renderables:
            console.print(renderable)
    sys.stdout.write(redact(captured.get()))
    sys.stdout.flush()


def _text(value: str, style: str = "") -> Text:
    """A table cell or title: redacted, and never read as Rich markup."""
    return Text(redact(value), style=style)


def _exit(verdict: str, strict: bool) -> int:
    if verdict == "unhealthy" or (strict and verdict == "degraded"):
        return 1
    return 0


def _print_json(data: Any) -> None:
    print(json.dumps(redact_data(data), indent=2))


def checks_table(title: str, results: Sequence[CheckResult]) -> Table:
    table = Table(title=_text(title), title_justify="left")
    for column in ("check", "level", "status", "latency", "detail"):
        table.add_column(column, justify="right" if column == "latency" else "left")
    for r in results:
        critical = "" if r.critical else " (non-critical)"
        table.add_row(
            _text(r.name),
            core.level_name(r.level),
            _text(r.status + critical, _STYLE.get(r.status, "")),
            f"{r.latency_ms:.0f} ms",
            _text(r.detail),
        )
    return table


def _print_report(report: HealthReport, what: str) -> None:
    verdict = report.verdict
    warnings = [
        Text.assemble(("warning: ", "bold yellow"), _text(f"{r.name} {r.status}: {r.detail}"))
        for r in report.results
        if not r.ok and not r.blocking and r.name != "deep"
    ]
    _emit(
        checks_table(f"{what} of {report.target}", report.results),
        *warnings,
        Text.assemble(f"{what}: ", (verdict, f"bold {_STYLE[verdict]}")),
    )


def run_health(
    url: str,
    deep: bool,
    path: str,
    deep_path: str,
    timeout: float,
    strict: bool,
    json_output: bool,
) -> int:
    try:
        report = core.check_service(url, deep=deep, path=path, deep_path=deep_path, timeout=timeout)
    except UsageError as exc:
        return _usage(exc)
    if json_output:
        _print_json(report.as_dict())
    else:
        _print_report(report, "health")
    return _exit(report.verdict, strict)


def run_smoke(
    config: Path | None, environment: str | None, url: str | None, strict: bool, json_output: bool
) -> int:
    try:
        report = core.smoke(load(config), environment, url)
    except UsageError as exc:
        return _usage(exc)
    if json_output:
        _print_json(report.as_dict())
    else:
        _print_report(report, "smoke")
    return _exit(report.verdict, strict)


def run_baseline(
    config: Path | None,
    environment: str | None,
    url: str | None,
    overrides: dict[str, Any],
    json_output: bool,
) -> int:
    try:
        # With only --url, no safeship.toml is needed.
        loaded = load(config) if (environment or config or url is None) else None
        run = core.baseline(loaded, environment, url, overrides)
    except UsageError as exc:
        return _usage(exc)
    if json_output:
        _print_json(
            {
                "target": run.target,
                "baseline": run.report.as_dict(),
                "previous": run.report.previous.as_dict() if run.report.previous else None,
                "status": "failed" if run.failed else "ok",
            }
        )
    else:
        _print_baseline(run)
    return 1 if run.failed else 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _print_baseline(run: BaselineRun) -> None:
    report = run.report
    current, previous = report.current, report.previous
    table = Table(title=_text(f"baseline of {run.target}{current.path}"), title_justify="left")
    table.add_column("figure")
    table.add_column("now", justify="right")
    label = f"previous ({report.previous_version})" if previous else "previous"
    table.add_column(_text(label), justify="right")
    rows: list[tuple[str, str, str]] = [
        ("requests", str(current.requests), str(previous.requests) if previous else "-"),
        (
            "error rate",
            f"{current.error_rate:.1%}",
            f"{previous.error_rate:.1%}" if previous else "-",
        ),
    ]
    for name in ("mean_ms", "p50_ms", "p95_ms", "p99_ms"):
        before = getattr(previous, name) if previous else None
        rows.append((name.removesuffix("_ms"), _ms(getattr(current, name)), _ms(before)))
    if current.cpu_percent is not None:
        before_cpu = previous.cpu_percent if previous else None
        rows.append(
            (
                "CPU",
                f"{current.cpu_percent:.0f}%",
                "-" if before_cpu is None else f"{before_cpu:.0f}%",
            )
        )
    if current.rss_mb is not None:
        before_rss = previous.rss_mb if previous else None
        rows.append(
            (
                "RSS",
                f"{current.rss_mb:.0f} MB",
                "-" if before_rss is None else f"{before_rss:.0f} MB",
            )
        )
    for row in rows:
        table.add_row(*row)
    lines: list[RenderableType] = [table]
    if report.regressions:
        for line in report.regressions:
            lines.append(Text.assemble(("regression: ", "bold red"), _text(line)))
    elif current.mean_ms is None:
        lines.append(Text("no request was answered", style="bold red"))
    elif previous is None:
        lines.append(Text("no earlier baseline to compare with"))
    else:
        lines.append(Text("no regression", style="green"))
    _emit(*lines)
