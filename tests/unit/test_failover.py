"""Failover order and the circuit breaker, with in-process DeployPath implementations (the
HTTP adapters are covered against loopback servers in tests/contract/)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safeship.paths.base import Availability, PathDefaults, PathError, RunOutcome
from safeship.paths.build import build_path
from safeship.paths.failover import (
    AllPathsFailed,
    CircuitBreaker,
    Failover,
    deploy_with_failover,
)
from safeship.paths.local import LocalPath
from safeship.paths.settings import PathsSettings
from safeship.plugins import PluginNotFound


@dataclass
class ScriptedPath(PathDefaults):
    name: str
    available: Availability = field(default_factory=lambda: Availability(True, "ok"))
    trigger_error: str | None = None
    outcome: RunOutcome | None = None
    triggered: list[str] = field(default_factory=list)
    checked: int = 0

    def is_available(self) -> Availability:
        self.checked += 1
        return self.available

    def trigger(self, version: str, commit: str | None, environment: str) -> str:
        if self.trigger_error:
            raise PathError(self.trigger_error)
        self.triggered.append(version)
        return f"{self.name}-run"

    def follow(self, run_id: str) -> RunOutcome:
        return self.outcome or RunOutcome(run_id, True, "success")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_first_available_path_runs(tmp_path: Path) -> None:
    first, second = ScriptedPath("a"), ScriptedPath("b")
    result = deploy_with_failover([first, second], "v1", None, "prod")
    assert (result.path, result.run_id, result.failovers) == ("a", "a-run", [])
    assert second.checked == 0


def test_unavailable_then_trigger_error_fail_over_with_reasons(tmp_path: Path) -> None:
    paths = [
        ScriptedPath("github-actions", available=Availability(False, "billing: not started")),
        ScriptedPath("circleci", trigger_error="circleci: HTTP 404: Project not found"),
        ScriptedPath("local"),
    ]
    seen: list[Failover] = []
    result = deploy_with_failover(paths, "v1", "abc", "prod", on_failover=seen.append)
    assert result.path == "local"
    assert [(f.path, f.reason, f.next_path) for f in seen] == [
        ("github-actions", "billing: not started", "circleci"),
        ("circleci", "circleci: HTTP 404: Project not found", "local"),
    ]
    assert result.failovers == seen


def test_run_refused_before_start_fails_over_but_started_failure_does_not() -> None:
    refused = ScriptedPath("gh", outcome=RunOutcome("r", False, "failure", False, "billing"))
    broken = ScriptedPath("rw", outcome=RunOutcome("r", False, "CRASHED", True, "crashed"))
    never = ScriptedPath("local")
    result = deploy_with_failover([refused, broken, never], "v1", None, "prod")
    assert result.path == "rw" and result.outcome.conclusion == "CRASHED"
    assert [f.reason for f in result.failovers] == ["billing"]
    assert never.checked == 0


def test_all_paths_failing_is_one_error_naming_each() -> None:
    paths = [
        ScriptedPath("a", available=Availability(False, "down")),
        ScriptedPath("b", trigger_error="b: refused"),
    ]
    with pytest.raises(AllPathsFailed) as failed:
        deploy_with_failover(paths, "v1", None, "prod")
    assert str(failed.value) == "no deploy path could run: a: down; b: b: refused"


def test_breaker_skips_a_failed_path_during_its_cooldown(tmp_path: Path) -> None:
    clock = Clock()
    breaker = CircuitBreaker(tmp_path / ".safeship" / "paths.json", cooldown=600, now=clock)
    flaky = ScriptedPath("github-actions", available=Availability(False, "billing"))
    backup = ScriptedPath("railway-native")

    deploy_with_failover([flaky, backup], "v1", None, "prod", breaker=breaker)
    assert flaky.checked == 1
    state = json.loads(breaker.state_file.read_text())
    assert state["github-actions"]["reason"] == "billing"

    # Healed, but still cooling down: not even asked.
    flaky.available = Availability(True, "ok")
    clock.now += 599
    result = deploy_with_failover([flaky, backup], "v2", None, "prod", breaker=breaker)
    assert flaky.checked == 1 and result.path == "railway-native"
    assert result.failovers[0].reason.startswith("cooling down for 1 s after: billing")

    # Cool-down over: tried again, and a success closes the breaker.
    clock.now += 2
    result = deploy_with_failover([flaky, backup], "v3", None, "prod", breaker=breaker)
    assert result.path == "github-actions" and flaky.checked == 2
    assert breaker.open_reason("github-actions") is None
    assert "github-actions" not in json.loads(breaker.state_file.read_text())


def test_breaker_survives_a_corrupt_state_file(tmp_path: Path) -> None:
    state = tmp_path / "paths.json"
    state.write_text("{not json")
    breaker = CircuitBreaker(state, cooldown=60)
    assert breaker.open_reason("a") is None
    breaker.trip("a", "down")
    assert breaker.open_reason("a") is not None


def test_availability_check_crash_fails_over() -> None:
    class Broken(ScriptedPath):
        def is_available(self) -> Availability:
            raise RuntimeError("boom")

    result = deploy_with_failover([Broken("x"), ScriptedPath("y")], "v1", None, "prod")
    assert result.path == "y"
    assert result.failovers[0].reason == "availability check failed: RuntimeError: boom"


def test_local_path_runs_the_given_runner() -> None:
    calls: list[tuple[str, str | None, str]] = []
    local = LocalPath(lambda v, c, e: calls.append((v, c, e)) is None)
    assert local.is_available().ok
    outcome = local.follow(local.trigger("v1", "abc", "prod"))
    assert outcome.ok and calls == [("v1", "abc", "prod")]
    bare = LocalPath()
    with pytest.raises(PathError, match="no deploy runner"):
        bare.follow(bare.trigger("v1", None, "prod"))


def test_paths_are_built_through_the_registry_with_one_constructor_contract() -> None:
    settings = PathsSettings.model_validate(
        {"order": ["github-actions", "local"], "github-actions": {"repo": "acme/shop"}}
    )
    ran: list[str] = []
    local = build_path("local", settings, lambda name: lambda v, c, e: ran.append(name) is None)
    assert local.in_process and local.refuses("prod", settings) is None
    assert local.follow(local.trigger("v1", None, "prod")).ok and ran == ["local"]
    remote = build_path("github-actions", settings)
    assert not remote.in_process and remote.run_url("1") is None
    with pytest.raises(PathError, match=r"no \[paths.circleci\] table"):
        build_path("circleci", settings)
    with pytest.raises(PluginNotFound, match="no paths adapter named 'ftp'"):
        build_path("ftp", settings)
