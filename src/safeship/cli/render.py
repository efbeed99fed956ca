"""Rich renderings of core data: the live deploy view, history, status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from safeship import core
from safeship.validation import printable

if TYPE_CHECKING:  # only annotations: `status` and `history` do not load the deploy machinery
    from safeship.core import DeploymentRecord, LiveSnapshot

_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "rolled_back": "yellow",
    "aborted": "magenta",
}


def _ms(value: float | None) -> str:
    # The p95 is read from the routers' histogram (within a few percent); infinity: in its
    # open last bucket, above 120 s.
    if value is None:
        return "-"
    return ">120s" if value == float("inf") else f"{value:.1f}ms"


def traffic_table(title: str, rows: Sequence[core.TrafficRow]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("release", "weight", "requests", "errors", "error rate", "p95"):
        table.add_column(column, justify="left" if column == "release" else "right")
    for row in rows:
        table.add_row(
            row.release,
            f"{row.weight}%",
            str(row.requests),
            str(row.errors),
            "-" if row.error_rate is None else f"{row.error_rate:.1%}",
            _ms(row.p95_ms),
        )
    return table


def live_view(snapshot: LiveSnapshot) -> Group:
    step = f" · step {snapshot.step}%" if snapshot.step is not None else ""
    header = Text.assemble(
        ("deploy ", "bold"),
        (snapshot.version, "bold cyan"),
        f" → {snapshot.environment} · ",
        (snapshot.status.value, _STATUS_STYLE.get(snapshot.status.value, "bold")),
        f"{step} · {snapshot.elapsed:.1f}s",
    )
    if snapshot.paused:
        env = snapshot.environment
        header.append(f" · paused: safeship promote {env} / safeship abort {env}", "bold yellow")
    final = snapshot.status in core.TERMINAL
    title = "traffic during the rollout" if final else "traffic this step"
    # A rolled-back release (no weight any more) still shows what it got.
    rows = core.traffic_rows(snapshot.weights, snapshot.window)
    parts: list[Table | Text] = [header, traffic_table(title, rows)]
    if snapshot.judgement is not None:
        parts.append(judgement_table(core.analysis_figures(snapshot.judgement.as_dict())))
    return Group(*parts)


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if metric == "error_rate" else f"{value:.1f} ms"


def judgement_table(analysis: core.AnalysisFigures) -> Table:
    """The canary judge's figures: canary vs stable per metric."""
    score, step = analysis.score, analysis.step
    title = (
        f"canary analysis{f' at {step}%' if step is not None else ''}: "
        f"score {'n/a' if score is None else f'{score:.0f}'} ({analysis.decision})"
    )
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("metric", "canary", "stable", "samples", "p (worse)", "verdict"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for m in analysis.metrics:
        table.add_row(
            m.name,
            _figure(m.name, m.canary),
            _figure(m.name, m.stable),
            f"{m.n_canary}/{m.n_stable}",
            "-" if m.p_high is None else f"{m.p_high:.2g}",
            Text(
                m.verdict,
                style={"high": "red", "nodata": "yellow", "undecided": "yellow"}.get(
                    m.verdict, "green"
                ),
            ),
        )
    return table


def outcome_line(result: core.DeployResult) -> Text:
    status = result.status or ""
    style = _STATUS_STYLE.get(status, "bold")
    text = Text.assemble((result.version, "bold cyan"), " ", (status, f"bold {style}"))
    if result.reason:
        text.append(f": {result.reason}")
    return text


def history_table(
    deployments: Sequence[core.DeploymentSummary | DeploymentRecord],
) -> Table:
    """The deployments (summaries, or records as the demo gives them), newest first."""
    rows = [
        d if isinstance(d, core.DeploymentSummary) else core.deployment_summary(d)
        for d in deployments
    ]
    table = Table(title="deployment history", title_justify="left")
    several = len({r.environment for r in rows}) > 1
    columns = ["id", *(["environment"] if several else []), "version", "status", "duration"]
    for column in columns:
        table.add_column(column, no_wrap=True)
    table.add_column("requests (errors)")
    table.add_column("reason", ratio=1)
    for r in rows:
        requests = ", ".join(f"{t.release} {t.requests} ({t.errors})" for t in r.traffic)
        duration = r.duration_seconds
        table.add_row(
            r.id[:8],
            *([r.environment] if several else []),
            # Rows written before versions were validated may hold escape sequences.
            printable(r.version),
            Text(r.state, style=_STATUS_STYLE.get(r.status, "")),
            f"{duration:.1f}s" if duration is not None else "-",
            requests or "-",
            printable(r.rollback_reason or ""),
        )
    return table
