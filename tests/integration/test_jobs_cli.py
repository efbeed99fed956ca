"""`safeship jobs status|run`: the background jobs from the shell, on a real project (the
local target, the SQLite registry)."""

from __future__ import annotations

from pathlib import Path

from testing.cli import safeship

CONFIG = """[project]
name = "t"

[environments.production]
port = 18192
[environments.production.target]
command = ["python", "-m", "http.server", "{port}"]

[jobs.drift]
at = "05:30"
"""


def test_status_lists_each_job(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(CONFIG)
    status = safeship(tmp_path, "jobs", "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["outbox", "drift", "watch:production"]
    assert lines[0] == "outbox  off  every 5s"  # no [notify.*] channel: nothing to deliver
    assert lines[1].startswith("drift  on  every 1d  next ")
    assert lines[2].startswith("watch:production  on  every 1m  next ")


def test_an_unknown_job_or_setting_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(CONFIG)
    unknown = safeship(tmp_path, "jobs", "run", "nope")
    assert unknown.returncode == 2
    assert unknown.stdout == (
        "safeship: error: no job 'nope' (jobs: outbox, drift, watch:production)\n"
    )
    (tmp_path / "safeship.toml").write_text(CONFIG + '[jobs.watch]\nenvironments = ["prod"]\n')
    wrong = safeship(tmp_path, "jobs", "status")
    assert wrong.returncode != 0
    assert "Traceback" not in wrong.stdout + wrong.stderr
    assert "jobs.watch.environments: no environment 'prod' is configured" in (
        wrong.stdout + wrong.stderr
    )
