"""The deployment report rendered from a ``DeploymentDetail``: markdown, JSON, or HTML (the
printable standalone page, whose body the dashboard's deployment page includes).

Every value from the registry (versions, reasons, commit subjects, env keys, who) is untrusted
text: the HTML is rendered with autoescape on, and the markdown escapes what a markdown
renderer would read as markup or raw HTML.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from jinja2 import Environment

    from safeship.core._detail import DeploymentDetail, GateFigures, StepFigures

FORMATS: Final = ("md", "json", "html")
# The templates stay with the analytics package (the dashboard renders the same body).
TEMPLATES: Final = Path(__file__).parent.parent / "analytics" / "templates"
# What a report shows for a figure it does not have.
NONE: Final = "\N{EN DASH}"
MEDIA_TYPES: Final = {
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}


def render(detail: DeploymentDetail, fmt: str) -> str:
    """The report in ``fmt`` (md, json or html); ValueError for another format."""
    if fmt == "md":
        return render_markdown(detail)
    if fmt == "json":
        return render_json(detail)
    if fmt == "html":
        return render_html(detail)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render_json(detail: DeploymentDetail) -> str:
    return json.dumps(detail.as_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_html(detail: DeploymentDetail) -> str:
    """The standalone page (report.html.j2, inline style, no external URL)."""
    return _environment().get_template("report.html.j2").render(detail=detail)


def render_body(detail: DeploymentDetail) -> str:
    """The body alone (report_body.html.j2), as the dashboard's deployment page includes it."""
    return _environment().get_template("report_body.html.j2").render(detail=detail)


@cache
def _environment() -> Environment:
    # The dashboard's own environment has the same settings (autoescape, StrictUndefined): the
    # body renders alike in both.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# -- markdown ---------------------------------------------------------------------------------

# What a markdown renderer would read as markup: emphasis, code, links, tables, headings, HTML.
_MD_SPECIAL: Final = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "#": "\\#",
        "!": "\\!",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\n": " ",
        "\r": " ",
    }
)


def md(text: object) -> str:
    """Untrusted text as inert markdown on one line."""
    return str(text).translate(_MD_SPECIAL)


def _code(text: str) -> str:
    """An id or sha as inline code (they hold no backtick: escaped to be sure)."""
    return f"`{text.replace('`', '')}`"


def _when(moment: object) -> str:
    from datetime import datetime

    if not isinstance(moment, datetime):
        return NONE
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.2f}%"


def _ms(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} ms"


def _figure(value: object) -> str:
    if value is None:
        return NONE
    if isinstance(value, float):
        return f"{value:.4g}"
    return md(value)


def render_markdown(detail: DeploymentDetail) -> str:
    s = detail.summary
    out: list[str] = [f"# Deployment report: {md(s.version)} to {md(s.environment)}", ""]
    out += ["## Summary", ""]
    duration = NONE if s.duration_seconds is None else f"{s.duration_seconds:.1f} s"
    health = (
        "not measured"
        if s.health_score is None
        else f"{s.health_score:.2f}, {s.error_count} error{'' if s.error_count == 1 else 's'}"
    )
    rows = [
        ("Environment", md(s.environment)),
        ("Version", md(s.version)),
        ("Status", md(s.state)),
        ("Deployment", _code(s.id)),
        ("Commit", _code(s.commit_sha) if s.commit_sha else "not recorded"),
        ("Triggered by", md(detail.triggered_by)),
        ("Approved by", md(", ".join(detail.approved_by)) or "no approval recorded"),
        ("Strategy", md(detail.strategy or NONE)),
        ("Deploy path", md(detail.path or "this machine")),
        ("Replacing", md(detail.stable_version or "nothing (first release)")),
        ("Started", _when(s.started_at)),
        ("Completed", _when(s.completed_at)),
        ("Duration", duration),
        ("Health", health),
    ]
    out += [f"- **{name}:** {value}" for name, value in rows] + [""]
    out += ["## What happened", "", _what_happened(detail), ""]
    out += ["## Gates", ""]
    for gate in detail.gates:
        out += _gate_markdown(gate)
    if not detail.gates:
        out.append("No gate ran before the release.")
    out.append("")
    out += ["## Timeline", ""]
    out += [f"1. {_when(e.at)} {_code(e.name)} {md(e.text)}" for e in detail.timeline] or [
        "No event was recorded."
    ]
    out += ["", "## Checks", ""]
    if detail.checks:
        out += ["| Check | Level | Status | Duration | Detail |", "|---|---|---|---|---|"]
        out += [
            f"| {md(c.name)} | {md(c.level or NONE)} | {md(c.status)} | {_ms(c.duration_ms)} "
            f"| {md(c.detail)} |"
            for c in detail.checks
        ]
    else:
        out.append("No check ran.")
    out += ["", "## Canary analysis", ""]
    for step in detail.steps:
        out += _step_markdown(step)
    if not detail.steps:
        out.append("No canary step was judged.")
    if s.traffic:
        out += ["", "### Traffic while it rolled out", ""]
        out += ["| Release | Requests | Errors | Error rate |", "|---|---|---|---|"]
        out += [
            f"| {md(t.release)} | {t.requests} | {t.errors} "
            f"| {_percent(t.errors / t.requests if t.requests else None)} |"
            for t in s.traffic
        ]
    out += ["", "## Rollback rule and figures", ""]
    if detail.rollback_rule or detail.rollback_reason:
        out.append(f"- **Rule:** {md(detail.rollback_rule or NONE)}")
        out.append(f"- **Reason:** {md(detail.rollback_reason or NONE)}")
        out += [
            f"- **{md(name)}:** {_figure(value)}"
            for name, value in sorted(detail.rollback_figures.items())
        ]
    else:
        out.append("No rollback rule fired.")
    out += ["", "## Environment changes", ""]
    if detail.env_changes:
        out += ["| Variable | Change | Before | After |", "|---|---|---|---|"]
        for c in detail.env_changes:
            if c.secret:
                values = "secret: value not shown | secret: value not shown"
            else:
                values = f"{md(c.before if c.before is not None else NONE)} | " + md(
                    c.after if c.after is not None else NONE
                )
            out.append(f"| {md(c.key)} | {md(c.change)} | {values} |")
    else:
        out.append(
            md(detail.env_note or "No variable changed since the previous successful deployment.")
        )
    out += ["", "## Commits shipped", ""]
    if detail.commits:
        out += ["| Commit | Author | Date | Subject |", "|---|---|---|---|"]
        out += [
            f"| {_code(c.sha[:12])} | {md(c.author)} | {_when(c.at)} | {md(c.subject)} |"
            for c in detail.commits
        ]
    else:
        out.append(f"No commit listed: {md(detail.commits_note or 'none')}.")
    out += ["", "## Approvals", ""]
    out += [f"- {md(who)}" for who in detail.approved_by] or [
        "No approval was required or recorded."
    ]
    plan = detail.rollback_plan
    compatible = {None: "unknown", True: "yes", False: "no"}[plan.schema_compatible]
    out += ["", "## Rollback plan", "", md(plan.text), ""]
    out += [
        f"- **Previous version:** {md(plan.previous_version or NONE)}",
        f"- **Schema compatible:** {compatible}",
        f"- **Backup:** {md(plan.backup or 'none recorded')}",
    ]
    return "\n".join(out) + "\n"


def _what_happened(detail: DeploymentDetail) -> str:
    s = detail.summary
    reason = f": {md(detail.rollback_reason)}" if detail.rollback_reason else ""
    if s.status == "succeeded":
        return f"{md(s.version)} was promoted to all traffic in {md(s.environment)}."
    if s.status == "rolled_back":
        rule = f" by the rule **{md(detail.rollback_rule)}**" if detail.rollback_rule else ""
        return f"{md(s.version)} was rolled back{rule}{reason}."
    if s.status in ("failed", "aborted"):
        return f"{md(s.version)} {s.status} before it took traffic{reason}."
    return f"The deployment is {md(s.state)}."


def _step_markdown(step: StepFigures) -> list[str]:
    score = "" if step.analysis.score is None else f", score {step.analysis.score:.2f}"
    lines = [
        f"### Step {step.weight}%: {md(step.verdict or 'not judged')}{score}",
        "",
        f"{_when(step.at)}: error rate canary {_percent(step.canary_error_rate)} against stable "
        f"{_percent(step.stable_error_rate)}; mean latency canary {_ms(step.canary_latency_ms)} "
        f"against stable {_ms(step.stable_latency_ms)}; requests canary "
        f"{step.canary_requests if step.canary_requests is not None else NONE}, stable "
        f"{step.stable_requests if step.stable_requests is not None else NONE}.",
        "",
    ]
    if step.analysis.metrics:
        lines += [
            "| Metric | Verdict | Canary | Stable | n canary | n stable | p (canary worse) |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {md(m.name)} | {md(m.verdict)} | {_figure(m.canary)} | {_figure(m.stable)} "
            f"| {_figure(m.n_canary)} | {_figure(m.n_stable)} | {_figure(m.p_high)} |"
            for m in step.analysis.metrics
        ]
        lines.append("")
    return lines


def _gate_markdown(gate: GateFigures) -> list[str]:
    took = "" if gate.seconds is None else f" ({gate.seconds:.1f} s)"
    reason = f": {md(gate.reason)}" if gate.reason else ""
    lines = [f"- **{md(gate.gate)}** {md(gate.outcome)}{took}{reason}"]
    lines += [f"  - {md(name)}: {md(text)}" for name, text in gate.key_figures]
    if gate.output:
        # Escaped like every other value (a code block would show the escapes literally and
        # leave markup in the output live for renderers that do not treat it as code).
        lines.append("  - last output lines:")
        lines += [f"    - {md(line)}" for line in gate.output]
    return lines
