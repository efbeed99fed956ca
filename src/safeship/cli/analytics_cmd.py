"""safeship analytics [ENV] [--since 30d] [--json|--csv]: the DORA measures, the success
metrics (architecture §9) and the failure patterns of a period (docs/analytics.md)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from safeship.cli import params

if TYPE_CHECKING:
    from safeship import core

# How a measure's value reads, by unit.
_FORMATS = {
    "per_day": "{:.2f} a day",
    "hours": "{:.1f} h",
    "minutes": "{:.1f} min",
    "seconds": "{:.0f} s",
    "ratio": "{:.1%}",
    "count": "{:.0f}",
    "usd": "${:.2f}",
}
# The failure patterns printed (their top rows) under the measures.
PATTERNS = (
    ("rollbacks_by_rule", "rollbacks by rule"),
    ("failures_by_path", "failures by path"),
    ("failures_by_trigger", "failures by who triggered"),
)
TOP = 5


def command(
    environment: Annotated[
        str | None,
        typer.Argument(
            help="Environment (default: all; DORA: the production ones).",
            callback=params.environment,
        ),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="The period back from now: 12h, 30d, 2w.")
    ] = "30d",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print the measures as CSV.")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
    ] = None,
) -> None:
    """DORA measures, success metrics and failure patterns over a period."""
    raise typer.Exit(run(config, environment, since, json_output, csv_output))


def run(
    config: Path | None,
    environment: str | None,
    since: str,
    json_output: bool,
    csv_output: bool,
    out: TextIO | None = None,
) -> int:
    from safeship import core
    from safeship.cli.common import load

    stream = out or sys.stdout
    if json_output and csv_output:
        print("safeship: error: --json and --csv exclude each other", file=sys.stderr)
        return 2
    try:
        period = core.parse_period(since)
        loaded = load(config, reuse=True)
        report = core.analytics(loaded, core.AnalyticsQuery(environment, period))
    except core.UsageError as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        return 2
    if json_output:
        print(json.dumps(report.as_json(), indent=2), file=stream)
    elif csv_output:
        writer = csv.DictWriter(stream, fieldnames=report.CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report.csv_rows())
    else:
        _print_text(report, stream)
    return 0


def value_text(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    return _FORMATS.get(unit, "{:g}").format(value)


def _print_text(report: core.AnalyticsReport, stream: TextIO) -> None:
    from safeship.validation import printable

    where = report.environment or "all environments"
    days = (report.until - report.since).total_seconds() / 86400
    print(f"analytics of {printable(where)}, last {days:g} days", file=stream)
    dora_on = ", ".join(report.dora_environments) or "none"
    sections = (
        (f"DORA ({printable(dora_on)})", report.dora),
        ("success metrics", report.success),
    )
    for title, measures in sections:
        print(f"\n{title}", file=stream)
        width = max(len(m.label) for m in measures)
        for m in measures:
            band = f"  [{m.band}]" if m.band else ""
            line = f"  {m.label:<{width}}  {value_text(m.value, m.unit):>12}{band}  {m.detail}"
            print(printable(line), file=stream)
    for name, title in PATTERNS:
        points = report.series[name][:TOP]
        if points:
            shown = ", ".join(f"{p.label} {p.value:g}" for p in points if p.value is not None)
            print(file=stream)
            print(printable(f"{title}: {shown}"), file=stream)
