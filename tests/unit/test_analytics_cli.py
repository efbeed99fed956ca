"""`safeship analytics` and `safeship mark` on a real SQLite registry: the JSON and CSV shapes,
the text view, and one-line errors for a bad period, an unknown environment or deployment."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship.analytics.records import CSV_FIELDS, SERIES_NAMES
from safeship.cli import analytics_cmd, mark_cmd
from safeship.registry import Registry
from testing.cli import one_line_error, safeship

CONFIG = """\
[environments.production]
port = 18601
[environments.production.target]
command = ["python", "-m", "app"]
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A project whose registry has two deployments a day old: one succeeded, one rolled back
    by the error-rate rule (made once: creating a registry runs its migrations). A test that
    marks one clears the mark again."""
    project = tmp_path_factory.mktemp("analytics")
    (project / "safeship.toml").write_text(CONFIG, encoding="utf-8")
    started = datetime.now(UTC) - timedelta(days=1)
    url = f"sqlite:///{project / '.safeship' / 'registry.db'}"
    ids = {}
    with Registry(url, clock=lambda: started) as registry:
        for name, status, rule in (("ok", "succeeded", None), ("bad", "rolled_back", "error_rate")):
            ids[name] = registry.create_deployment("production", f"v-{name}", None, "ci")
            registry.update_deployment(ids[name], status=status, completed=True, rollback_rule=rule)
    return project, ids


@pytest.fixture
def project(seeded: tuple[Path, dict[str, str]]) -> Path:
    return seeded[0]


def seed(project: Path) -> dict[str, str]:
    """The seeded deployments' ids, by name ("ok", "bad")."""
    registry = Registry(f"sqlite:///{project / '.safeship' / 'registry.db'}")
    with registry:
        found = {r.version.removeprefix("v-"): r.id for r in registry.history("production")}
    return found


def run_analytics(
    project: Path,
    environment: str | None = None,
    *,
    since: str = "30d",
    as_json: bool = False,
    as_csv: bool = False,
) -> tuple[int, str]:
    out = io.StringIO()
    config = project / "safeship.toml"
    code = analytics_cmd.run(config, environment, since, as_json, as_csv, out)
    return code, out.getvalue()


def test_json_is_the_reports_shape(project: Path) -> None:
    seed(project)
    code, text = run_analytics(project, as_json=True)
    assert code == 0
    data = json.loads(text)
    assert data["environment"] is None
    assert data["dora_environments"] == ["production", "prod"]
    fail = next(m for m in data["dora"] if m["name"] == "change_fail_rate")
    assert fail == {
        "name": "change_fail_rate",
        "label": "Change fail rate",
        "value": 0.5,
        "unit": "ratio",
        "band": "low",
        "detail": "1 of 2 deployments failed or rolled back",
    }
    assert list(data["series"]) == list(SERIES_NAMES)
    assert data["series"]["rollbacks_by_rule"] == [
        {"label": "error_rate", "value": 1.0, "extra": {}}
    ]


def test_csv_has_a_header_and_one_row_per_measure(project: Path) -> None:
    seed(project)
    code, text = run_analytics(project, "production", since="2w", as_csv=True)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_FIELDS
    assert len(rows) == 15
    success = next(r for r in rows if r["name"] == "success_rate")
    assert (success["group"], success["value"], success["unit"]) == ("success", "0.5", "ratio")
    lead = next(r for r in rows if r["name"] == "change_lead_time")
    assert lead["value"] == ""  # no data, not 0


def test_the_text_view_gives_each_measure_with_its_band(project: Path) -> None:
    seed(project)
    code, text = run_analytics(project, "production", since="12h")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "analytics of production, last 0.5 days"
    fail = next(line for line in lines if "Change fail rate" in line)
    assert "no data" in fail  # the deployments are a day old: not in the last 12 h
    code, text = run_analytics(project, since="2d")
    assert any("Change fail rate" in line and "50.0%  [low]" in line for line in text.splitlines())
    assert "rollbacks by rule: error_rate 1" in text


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("3x", "--since: '3x' is not a period (12h, 30d, 2w)"),
        ("0d", "--since: '0d' must be more than 0 and at most 3660d"),
        ("99999w", "--since: '99999w' must be more than 0 and at most 3660d"),
    ],
)
def test_a_bad_period_is_one_line(
    project: Path, since: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_analytics(project, since=since)
    assert code == 2
    assert capsys.readouterr().err == f"safeship: error: {message}\n"


def test_an_unknown_environment_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_analytics(project, "staging")
    assert code == 2
    assert capsys.readouterr().err == (
        "safeship: error: unknown environment 'staging' (configured: production)\n"
    )


def test_json_and_csv_exclude_each_other(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_analytics(project, as_json=True, as_csv=True)[0] == 2
    assert "exclude each other" in capsys.readouterr().err


def test_the_command_line_refuses_a_bad_period_in_one_line(project: Path) -> None:
    result = safeship(project, "analytics", "--since", "soon")
    assert one_line_error(result, 2) == "--since: 'soon' is not a period (12h, 30d, 2w)"


def test_mark_and_clear_a_false_alarm(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = seed(project)
    config = project / "safeship.toml"
    out = io.StringIO()
    bad = ids["bad"]
    assert mark_cmd.run(config, bad[:8], "false-alarm", reason="noisy", by="ann", out=out) == 0
    assert out.getvalue() == (
        f"deployment {bad[:8]} (production v-bad, rolled_back) marked false-alarm by ann\n"
    )
    _, text = run_analytics(project, as_json=True)
    rate = next(
        m for m in json.loads(text)["success"] if m["name"] == "rollback_false_positive_rate"
    )
    assert rate["value"] == 1.0
    out = io.StringIO()
    assert mark_cmd.run(config, bad, "false-alarm", clear=True, out=out) == 0
    assert out.getvalue().endswith("false-alarm cleared\n")
    out = io.StringIO()
    assert mark_cmd.run(config, bad, "false-alarm", clear=True, out=out) == 0
    assert out.getvalue().endswith("had no false-alarm mark\n")


@pytest.mark.parametrize(
    ("deployment", "mark", "message"),
    [
        ("abcdef12", "false-alarm", "no deployment 'abcdef12'"),
        ("abc", "false-alarm", "id prefix must be 6-32 hex digits, got 'abc'"),
        ("ok", "false-alarm", "only a rolled-back deployment can be marked false-alarm"),
        ("bad", "great", "unknown mark 'great'; expected one of false-alarm"),
    ],
)
def test_mark_errors_are_one_line(
    project: Path,
    deployment: str,
    mark: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = seed(project)
    code = mark_cmd.run(project / "safeship.toml", ids.get(deployment, deployment), mark)
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("safeship: error: ")
    assert line.endswith(message)
