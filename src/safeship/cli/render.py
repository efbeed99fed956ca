"""Rich renderings of core data: the live deploy view, history, status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from safeship.pipeline.states import TERMINAL
from safeship.routing.base import Backend, BackendStats
from safeship.validation import printable

if TYPE_CHECKING:  # only annotations: `status` and `history` do not load the deploy machinery
    from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
    from safeship.registry import DeploymentRecord

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


def stats_table(title: str, weights: Mapping[str, int], stats: Mapping[str, BackendStats]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("release", "weight", "requests", "errors", "error rate", "p95"):
        table.add_column(column, justify="left" if column == "release" else "right")
    for name in sorted(set(weights) | set(stats)):
        s = stats.get(name, BackendStats())
        table.add_row(
            name,
            f"{weights.get(name, 0)}%",
            str(s.requests),
            str(s.errors),
            f"{s.error_rate:.1%}" if s.requests else "-",
            _ms(s.latency_quantile_ms(0.95)),
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
    final = snapshot.status in TERMINAL
    title = "traffic during the rollout" if final else "traffic this step"
    weights = dict(snapshot.weights)
    for name in snapshot.window:
        weights.setdefault(name, 0)  # a rolled-back release still shows what it got
    parts: list[Table | Text] = [header, stats_table(title, weights, snapshot.window)]
    if snapshot.judgement is not None:
        parts.append(judgement_table(snapshot.judgement.as_dict()))
    return Group(*parts)


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if metric == "error_rate" else f"{value:.1f} ms"


def judgement_table(analysis: Mapping[str, Any]) -> Table:
    """The canary judge's figures (``Judgement.as_dict()``): canary vs stable per metric."""
    score = analysis.get("score")
    step = analysis.get("step")
    title = (
        f"canary analysis{f' at {step}%' if step is not None else ''}: "
        f"score {'n/a' if score is None else f'{score:.0f}'} ({analysis.get('decision')})"
    )
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("metric", "canary", "stable", "samples", "p (worse)", "verdict"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for m in analysis.get("metrics", []):
        name = str(m.get("name"))
        p_high = m.get("p_high")
        verdict = str(m.get("verdict"))
        table.add_row(
            name,
            _figure(name, m.get("canary")),
            _figure(name, m.get("stable")),
            f"{m.get('n_canary')}/{m.get('n_stable')}",
            "-" if p_high is None else f"{p_high:.2g}",
            Text(
                verdict,
                style={"high": "red", "nodata": "yellow", "undecided": "yellow"}.get(
                    verdict, "green"
                ),
            ),
        )
    return table


def outcome_line(outcome: DeploymentOutcome) -> Text:
    style = _STATUS_STYLE.get(outcome.status.value, "bold")
    text = Text.assemble(
        (outcome.version, "bold cyan"), " ", (outcome.status.value, f"bold {style}")
    )
    if outcome.reason:
        text.append(f": {outcome.reason}")
    return text


def history_table(records: Sequence[DeploymentRecord]) -> Table:
    table = Table(title="deployment history", title_justify="left")
    several = len({r.environment for r in records}) > 1
    columns = ["id", *(["environment"] if several else []), "version", "status", "duration"]
    for column in columns:
        table.add_column(column, no_wrap=True)
    table.add_column("requests (errors)")
    table.add_column("reason", ratio=1)
    for r in records:
        traffic = r.metadata.get("traffic") or {}
        requests = ", ".join(
            f"{name} {t['requests']} ({t['errors']})" for name, t in traffic.items()
        )
        duration = r.duration_seconds
        table.add_row(
            r.id[:8],
            *([r.environment] if several else []),
            # Rows written before versions were validated may hold escape sequences.
            printable(r.version),
            Text(deployment_state(r), style=_STATUS_STYLE.get(r.status, "")),
            f"{duration:.1f}s" if duration is not None else "-",
            requests or "-",
            printable(r.rollback_reason or ""),
        )
    return table


def deployment_state(record: DeploymentRecord) -> str:
    """The deployment's status as a person reads it: ``paused at 50%: safeship promote|abort``
    while it waits at a pause, ``progressing at 50%`` at a step, else the status."""
    paused = record.metadata.get("paused_at")
    if paused and not record.is_terminal:
        return f"paused at {paused}%: safeship promote|abort"
    if record.status == "progressing" and record.current_step is not None:
        return f"progressing at {record.current_step}%"
    return record.status


def backends_weights(backends: Sequence[Backend]) -> dict[str, int]:
    return {b.name: b.weight for b in backends}
