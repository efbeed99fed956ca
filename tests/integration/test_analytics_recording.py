"""The pre-push gate records each push's run in the project's registry, when it has one, and a
registry that does not answer neither blocks the push nor changes its verdict."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prepush_repos import AWS_KEY, commit_all, make_pushed_repo, write

from safeship.analytics import recording
from safeship.hooks.gate import run_gate
from safeship.registry import Registry

CONFIG = """\
[registry]
url = "{url}"

[environments.production]
port = 18701
[environments.production.target]
command = ["python", "-m", "app"]

[prepush]
impact = false
"""
WIDE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def project_repo(tmp_path: Path, url: str) -> Path:
    repo = make_pushed_repo(tmp_path, {"safeship.toml": CONFIG.format(url=url)})
    write(repo, ".gitignore", ".safeship/\n")
    commit_all(repo)
    return repo


def test_each_push_is_recorded_with_its_verdict_and_failed_checks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    repo = project_repo(tmp_path, url)
    with Registry(url) as registry:  # the project has a registry: created by a first deploy
        registry.create_deployment("production", "v1", None, "ci")
    assert run_gate(repo, "push", None).passed
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    commit_all(repo)
    blocked = run_gate(repo, "push", None)
    assert not blocked.passed
    run_gate(repo, "push", None, only=frozenset({"secrets"}))  # a partial run: not a push's
    with Registry(url) as registry:
        totals = {t.verdict: t.runs for t in registry.analytics_facts(None, *WIDE).prepush}
    assert totals == {"passed": 1, "blocked": 1}


def test_a_push_does_not_create_a_registry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    repo = project_repo(tmp_path, url)
    assert run_gate(repo, "push", None).passed
    assert not (tmp_path / "none.db").exists()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung PostgreSQL)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_registry_that_does_not_answer_costs_the_push_at_most_the_bound(
    tmp_path: Path, silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "WRITE_TIMEOUT", 0.5)
    url = f"postgresql://nobody@127.0.0.1:{silent_server}/registry"
    repo = project_repo(tmp_path, url)
    write(repo, "a.py", f'KEY = "{AWS_KEY}"\n')
    commit_all(repo)
    began = time.monotonic()
    report = run_gate(repo, "push", None, use_cache=False)
    assert not report.passed  # the verdict is the gate's, whatever the registry did
    assert time.monotonic() - began < 5.0  # the checks, plus at most the write's bound


def test_bounded_waits_at_most_its_timeout_and_swallows_errors() -> None:
    release = threading.Event()

    def hangs() -> None:
        release.wait(5)

    began = time.monotonic()
    assert not recording.bounded(hangs, timeout=0.2)
    assert time.monotonic() - began < 1.0
    release.set()

    def fails() -> None:
        raise RuntimeError("the registry is down")

    assert not recording.bounded(fails)
    assert recording.bounded(lambda: None)


def test_a_ci_run_without_an_end_time_is_not_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with Registry(url) as registry:
        now = datetime.now(UTC)
        for end in (None, now + timedelta(minutes=2)):
            write = recording.record_ci_run(
                registry, path="circleci", run_id="r1", environment="production",
                version="v1", conclusion="success", started_at=now, completed_at=end,
            )  # fmt: skip
            assert (write is None) is (end is None)
        assert write is not None and write.wait()
        [ran] = registry.analytics_facts(None, *WIDE).ci_runs
    assert (ran.runs, ran.seconds) == (1, 120.0)
