"""The deployment report rendered from hand-built records: markdown, JSON and HTML say the same
things, untrusted text comes out inert, and no secret value ever appears."""

from __future__ import annotations

import dataclasses
import html.parser
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from safeship import core
from safeship.analytics.git_history import GitHistoryUnavailable, commits_between
from safeship.core import _report_render as report
from safeship.core._detail import commits_shipped, env_changes, event_text
from safeship.registry.records import StepResult

SCRIPT = "<script>alert(1)</script>"
STARTED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def summary(**fields: Any) -> core.DeploymentSummary:
    values: dict[str, Any] = {
        "id": "0f0e0d0c-0b0a-4909-8807-060504030201",
        "environment": "production",
        "version": "v2",
        "commit_sha": "abc1234",
        "triggered_by": "alice",
        "status": "rolled_back",
        "started_at": STARTED,
        "completed_at": STARTED + timedelta(seconds=42),
        "current_step": 50,
        "rollback_reason": "error rate 20.0% over 100 requests exceeds the 5.0% threshold",
        "terminal": True,
        "paused_at": None,
        "traffic": (),
        "analysis": None,
        "health_score": 0.8,
        "error_count": 20,
    }
    values.update(fields)
    return core.DeploymentSummary(**values)


STEP = StepResult(
    step_index=0,
    weight=10,
    verdict="fail",
    score=0.2,
    canary_error_rate=0.2,
    stable_error_rate=0.01,
    error_p_value=0.0001,
    canary_latency_ms=48.5,
    stable_latency_ms=31.25,
    canary_requests=100,
    stable_requests=900,
    error_verdict="high",
    latency_verdict="pass",
    created_at=STARTED + timedelta(seconds=20),
)


def step_figures(step: StepResult = STEP) -> core.StepFigures:
    from safeship.core._detail import step_detail

    return step_detail(step)


def detail(**fields: Any) -> core.DeploymentDetail:
    values: dict[str, Any] = {
        "summary": summary(),
        "path": None,
        "strategy": "canary",
        "stable_version": "v1",
        "timeline": (
            core.TimelineEntry(STARTED, "deployment.started", "deployment started (canary)", {}),
            core.TimelineEntry(
                STARTED + timedelta(seconds=30),
                "rollback.triggered",
                "rollback triggered at 10% by rule error_rate: error rate 20.0%",
                {"rule": "error_rate", "figures": {"error_rate": 0.2, "requests": 100}},
            ),
        ),
        "checks": (core.CheckFigure("health", "basic", "ok", 12.5, "200 in 12 ms"),),
        "steps": (step_figures(),),
        "rollback_rule": "error_rate",
        "rollback_reason": "error rate 20.0% over 100 requests exceeds the 5.0% threshold",
        "env_changes": (
            core.EnvChange("LOG_LEVEL", "changed", False, "info", "debug"),
            core.EnvChange("API_KEY", "changed", True, None, None),
        ),
        "commits": (
            core.CommitShipped("a" * 40, "Bob", STARTED - timedelta(hours=1), "Fix the cart"),
        ),
        "triggered_by": "alice",
        "approved_by": (),
        "rollback_plan": core.RollbackPlan("v1", None, None, "done: traffic went back to v1"),
        "rollback_figures": {"error_rate": 0.2, "requests": 100},
    }
    values.update(fields)
    return core.DeploymentDetail(**values)


class _Elements(html.parser.HTMLParser):
    """Every element and attribute of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def elements(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def test_each_format_has_every_section_and_the_figures() -> None:
    d = detail()
    md = report.render(d, "md")
    page = report.render(d, "html")
    for heading in ("Summary", "What happened", "Timeline", "Checks", "Canary analysis",
                    "Rollback rule and figures", "Environment changes", "Commits shipped",
                    "Approvals", "Rollback plan"):  # fmt: skip
        assert f"## {heading}" in md
        assert f"<h2>{heading}</h2>" in page
    for text in (md, page):
        assert "error\\_rate" in text or "error_rate" in text
        assert "20.00%" in text and "1.00%" in text  # canary vs stable error rate at the step
        assert "48.5 ms" in text and "31.2 ms" in text
        assert "aaaaaaaaaaaa" in text and "Fix the cart" in text
        assert "done: traffic went back to v1" in text
    document = json.loads(report.render(d, "json"))
    assert document["rollback_rule"] == "error_rate"
    assert document["rollback_figures"] == {"error_rate": 0.2, "requests": 100}
    assert document["steps"][0]["canary_error_rate"] == 0.2
    assert document["steps"][0]["at"] == "2026-11-30T12:00:20Z"
    assert document["summary"]["version"] == "v2" and document["summary"]["state"] == "rolled_back"
    assert document["commits"][0]["subject"] == "Fix the cart"
    assert document["rollback_plan"]["schema_compatible"] is None


def test_the_step_picture_is_svg_with_a_text_equivalent_and_no_script() -> None:
    page = report.render_body(detail())
    svgs = re.findall(r"<svg[^>]*>", page)
    assert len(svgs) == 2  # error rate and latency, canary against stable
    assert all('role="img"' in svg and "aria-label=" in svg for svg in svgs)
    assert 'aria-label="Error rate: canary 20.00%, stable 1.00%"' in page
    assert "<figcaption>" in page
    # The larger bar is the full width, the other in proportion.
    assert 'width="180.0" fill="#b3401e"' in page and 'width="9.0" fill="#1f5f99"' in page


def test_the_traffic_totals_canary_against_stable() -> None:
    totals = (core.ReleaseTraffic("v2", 40, 8), core.ReleaseTraffic("v1", 160, 0))
    d = detail(summary=summary(traffic=totals), steps=())
    page = report.render_body(d)
    assert "No canary step was judged" in page
    assert 'aria-label="Error rate: canary 20.00%, stable 0.00%"' in page
    assert "error rate of v2 20.00% against v1 0.00%" in page
    assert "| v2 | 40 | 8 | 20.00% |" in report.render(d, "md")


def test_a_step_without_figures_says_no_data() -> None:
    empty = dataclasses.replace(
        step_figures(), canary_error_rate=None, stable_error_rate=None,
        canary_latency_ms=None, stable_latency_ms=None,
    )  # fmt: skip
    page = report.render_body(detail(steps=(empty,)))
    assert "canary no data, stable no data" in page
    assert "error rate canary no data" in report.render(detail(steps=(empty,)), "md")


def test_the_standalone_page_is_complete_printable_and_has_no_external_url() -> None:
    page = report.render(detail(), "html")
    assert page.startswith("<!DOCTYPE html>") and "@media print" in page
    parsed = elements(page)
    assert {"html", "head", "style", "body", "main"} <= set(parsed.tags)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    for name, value in parsed.attributes:
        assert name not in ("src", "href"), (name, value)
    assert not re.search(r"https?:|//[a-z]|url\(", page)


def test_the_body_partial_has_no_page_of_its_own_and_needs_only_detail() -> None:
    body = report.render_body(detail())
    assert "<html" not in body and "<head" not in body and "<body" not in body
    # As the dashboard includes it: its own environment (StrictUndefined: any other name the
    # partial read would fail), a page that includes it with `detail` only.
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(report.TEMPLATES)]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    page = environment.from_string('<main>{% include "report_body.html.j2" %}</main>')
    assert page.render(detail=detail()) == f"<main>{body}</main>"


def hostile() -> core.DeploymentDetail:
    d = detail()
    return detail(
        summary=summary(version=f"v2{SCRIPT}", rollback_reason=f"boom {SCRIPT}"),
        rollback_reason=f"boom {SCRIPT}",
        rollback_rule=f"rule{SCRIPT}",
        triggered_by=f"mallory{SCRIPT}",
        timeline=(core.TimelineEntry(STARTED, "stage.failed", f"failed {SCRIPT}", {}),),
        checks=(core.CheckFigure(f"c{SCRIPT}", "basic", "failed", 1.0, f"d{SCRIPT}"),),
        env_changes=(core.EnvChange(f"KEY{SCRIPT}", "added", False, None, f"v{SCRIPT}"),),
        commits=(core.CommitShipped("b" * 40, f"a{SCRIPT}", None, f"subject {SCRIPT}"),),
        rollback_figures={f"f{SCRIPT}": f"x{SCRIPT}"},
        rollback_plan=dataclasses.replace(d.rollback_plan, previous_version=f"v1{SCRIPT}"),
    )


def test_untrusted_text_is_inert_in_html() -> None:
    page = report.render(hostile(), "html")
    parsed = elements(page)
    assert "script" not in parsed.tags
    assert SCRIPT not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 12
    assert all(not name.startswith("on") for name, _ in parsed.attributes)


def test_untrusted_text_is_harmless_in_markdown() -> None:
    md = report.render(hostile(), "md")
    assert "<" not in md.replace("&lt;", "") and ">" not in md.replace("&gt;", "")
    assert md.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10
    # Markdown syntax in a value is escaped, and a value cannot start a new line (heading,
    # table row).
    tricky = report.md("# title | [link](javascript:x) *em* `code`\n## two")
    assert tricky == "\\# title \\| \\[link\\](javascript:x) \\*em\\* \\`code\\` \\#\\# two"


def test_a_secret_change_shows_its_key_only() -> None:
    old = {
        "API_KEY": {"value": None, "fingerprint": "f1", "secret": True},
        "LOG_LEVEL": {"value": "info", "fingerprint": None, "secret": False},
        # Recorded in clear before the schema marked it secret: the schema wins.
        "DB_PASSWORD": {"value": "hunter2-old", "fingerprint": None, "secret": False},
        "SAME": {"value": "1", "fingerprint": None, "secret": False},
    }
    new = {
        "API_KEY": {"value": None, "fingerprint": "f2", "secret": True},
        "LOG_LEVEL": {"value": "debug", "fingerprint": None, "secret": False},
        "DB_PASSWORD": {"value": "hunter2-new", "fingerprint": None, "secret": False},
        "SAME": {"value": "1", "fingerprint": None, "secret": False},
        "TOKEN": {"value": None, "fingerprint": "f3", "secret": True},
    }
    changes = env_changes(old, new, frozenset({"DB_PASSWORD"}))
    assert changes == (
        core.EnvChange("API_KEY", "changed", True, None, None),
        core.EnvChange("DB_PASSWORD", "changed", True, None, None),
        core.EnvChange("LOG_LEVEL", "changed", False, "info", "debug"),
        core.EnvChange("TOKEN", "added", True, None, None),
    )
    d = detail(env_changes=changes)
    for fmt in report.FORMATS:
        text = report.render(d, fmt)
        assert "hunter2" not in text and "f2" not in text.replace("f2f", "")
        assert "DB_PASSWORD" in text.replace("\\_", "_")


def test_event_text_is_one_line_per_event() -> None:
    assert event_text("traffic.shifted", {"step": 50, "weights": {"v2": 50, "v1": 50}}) == (
        "traffic shifted: v2 50%, v1 50%"
    )
    assert event_text("rollback.triggered", {"step": 10, "rule": "error_rate", "reason": "r"}) == (
        "rollback triggered at 10% by rule error_rate: r"
    )
    assert event_text("deployment.succeeded", {"health_score": 0.97}) == (
        "deployment succeeded (health score 0.97)"
    )
    assert event_text("stage.failed", {"stage": "verify", "reason": "x"}) == "verify failed: x"
    assert event_text("path.failover", {}) == "path.failover"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        report.render(detail(), "pdf")


def test_as_json_turns_infinity_into_null() -> None:
    d = detail(rollback_figures={"p95_ms": float("inf")})
    assert d.as_json()["rollback_figures"] == {"p95_ms": None}
    json.loads(report.render(d, "json"))  # strict JSON: allow_nan=False would have raised


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
        env={"GIT_AUTHOR_NAME": "Ann", "GIT_AUTHOR_EMAIL": "ann@example.invalid",
             "GIT_COMMITTER_NAME": "Ann", "GIT_COMMITTER_EMAIL": "ann@example.invalid",
             "HOME": str(repo), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return done.stdout.strip()


def test_commits_between_two_shas(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    shas = []
    for subject in ("first", "second | with <b>", "third"):
        _git(tmp_path, "commit", "-q", "--allow-empty", "-m", subject)
        shas.append(_git(tmp_path, "rev-parse", "HEAD"))
    found = commits_between(tmp_path, shas[0], shas[2])
    assert [(c.sha, c.subject, c.author) for c in found] == [
        (shas[2], "third", "Ann"),
        (shas[1], "second | with <b>", "Ann"),
    ]
    assert found[0].at is not None and found[0].at.tzinfo is not None
    assert [c.subject for c in commits_between(tmp_path, None, shas[2], limit=2)] == [
        "third",
        "second | with <b>",
    ]
    with pytest.raises(GitHistoryUnavailable):
        commits_between(tmp_path, shas[0], "c0ffee")
    with pytest.raises(GitHistoryUnavailable, match="not a commit"):
        commits_between(tmp_path, None, "--output=/tmp/x")


def test_commits_shipped_since_the_previous_good_deploy_or_why_none(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shas = []
    for subject in ("one", "two <img src=x onerror=alert(1)>"):
        _git(repo, "commit", "-q", "--allow-empty", "-m", subject)
        shas.append(_git(repo, "rev-parse", "HEAD"))
    commits, note = commits_shipped(repo, shas[0], shas[1])
    assert [c.sha for c in commits] == [shas[1]] and note is None
    assert "&lt;img" in report.render(detail(commits=commits), "html")
    assert commits_shipped(repo, None, None) == ((), "no commit was recorded with this deployment")
    assert commits_shipped(repo, shas[1], shas[1])[1] == (
        "the same commit as the previous successful deployment"
    )
    assert commits_shipped(tmp_path, None, shas[1])[1] == (
        "the project's git repository is not at hand here"
    )
    unknown = commits_shipped(repo, None, "c0ffee1")[1]
    assert unknown is not None and unknown.startswith("the git history could not be read: ")


def test_the_record_keeps_the_names_the_dashboard_reads() -> None:
    names = {f.name for f in dataclasses.fields(core.DeploymentDetail)}
    assert {"summary", "path", "strategy", "stable_version", "timeline", "checks", "steps",
            "rollback_rule", "rollback_reason", "env_changes", "commits", "triggered_by",
            "approved_by", "rollback_plan"} <= names  # fmt: skip


def gates() -> tuple[core.GateFigures, ...]:
    dropped = "column public.items.note dropped (001.sql:1: ALTER TABLE items DROP COLUMN note)"
    return (
        core.GateFigures(
            gate="migration",
            outcome="passed",
            reason=f"dry run took 1.5 s; 1 finding needs approval: {dropped}",
            started_at=STARTED,
            seconds=1.52,
            figures={
                "seconds": 1.5,
                "findings": [dropped],
                "locks": {"public.items": {"mode": "AccessExclusiveLock", "held": 0.25}},
            },
            key_figures=(
                ("seconds", "1.5"),
                ("findings", dropped),
                ("locks", "public.items: mode: AccessExclusiveLock; held: 0.25"),
            ),
        ),
        core.GateFigures(
            gate="migrate",
            outcome="failed",
            reason="the migration failed (exit code 1: ERROR: boom)",
            started_at=STARTED + timedelta(seconds=2),
            seconds=0.4,
            figures={"exit_code": 1, "output": ["applying 002.sql", f"ERROR: boom {SCRIPT}"]},
            key_figures=(("exit_code", "1"),),
            output=("applying 002.sql", f"ERROR: boom {SCRIPT}"),
        ),
    )


def test_the_gates_section_shows_each_verdict_reason_and_key_figures() -> None:
    d = detail(gates=gates())
    md = report.render(d, "md")
    page = report.render(d, "html")
    assert "## Gates" in md and "<h2>Gates</h2>" in page
    assert "- **migration** passed (1.5 s): dry run took 1.5 s; 1 finding needs approval" in md
    assert "  - locks: public.items: mode: AccessExclusiveLock; held: 0.25" in md
    assert "- **migrate** failed (0.4 s): the migration failed (exit code 1: ERROR: boom)" in md
    assert "    - ERROR: boom &lt;script&gt;alert(1)&lt;/script&gt;" in md  # inert
    assert '<td class="ss-gate-failed">failed</td>' in page
    assert "<dt>findings</dt><dd>column public.items.note dropped (001.sql:1: ALTER TABLE" in page
    assert "<pre>applying 002.sql\nERROR: boom &lt;script&gt;" in page and SCRIPT not in page
    document = json.loads(report.render(d, "json"))
    assert [g["gate"] for g in document["gates"]] == ["migration", "migrate"]
    assert document["gates"][0]["figures"]["locks"]["public.items"]["held"] == 0.25
    assert document["gates"][1]["output"][0] == "applying 002.sql"
    empty = detail()
    assert "No gate ran before the release." in report.render(empty, "md")
    assert "No gate ran before the release." in report.render(empty, "html")
