"""Secret rotation, run for real (pipeline/rotation.py through the core API): a small service
(testing/secret_app.py) in two local environments, staging and production, reads JWT_SECRET from
its variables; the encrypted file store keeps the versions; the random and manual rotators.

A full rotation moves the labels, the platform variables and the running release to the new
value and leaves audit rows and events with fingerprints only; a deploy that fails with the new
value leaves the old value current and the pending one discarded; a `safeship secrets rotate`
killed at each step is resumed to the end (or to the old value, current and working); one
process at a time; manual: waiting, `set`, finished; a finish before the grace period ends is
refused without --force; status reports due states. No value in the registry, the events or
any output.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from safeship import core
from safeship._processes import free_port, is_running
from safeship.config import LoadedConfig, load_config
from safeship.pipeline import operations
from safeship.pipeline.environment import open_environment
from safeship.registry import Registry
from safeship.registry.rotations import RotationBusy
from safeship.secrets.base import open_versioned_store

APP = Path(__file__).resolve().parents[2] / "testing" / "secret_app.py"
ENVIRONMENTS = ("staging", "production")
INITIAL = {"staging": "staging-jwt-initial-0123456789abcdef", "production": "prod-jwt-initial-0123456789abcdef"}
ACTOR = "tester"

_ENV_TABLE = """
[environments.{name}]
port = {port}
strategy = "all-at-once"
bake_time = 0.2
{extra}

[environments.{name}.target]
command = ["python", "{app}", "--port", "{{port}}"]
env = {{ JWT_SECRET = "{initial}"{env} }}

[environments.{name}.health]
retries = 30
backoff = 0.1
"""

_SECRETS = """
[secrets]
grace = {grace}
keep_warm = 0.2

[secrets.rotate.JWT_SECRET]
kind = "{kind}"
category = "application"
{options}
"""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass
class RotationWorkspace:
    root: Path
    loaded: LoadedConfig
    ports: dict[str, int]
    seen_pids: set[int] = field(default_factory=set)

    def reload(self) -> None:
        self.loaded = load_config(self.root / "safeship.toml")

    def serving(self, environment: str) -> dict[str, str | None]:
        """What the environment's router answers: the release's version and digests."""
        answer = httpx.get(f"http://127.0.0.1:{self.ports[environment]}/secret", timeout=5)
        answer.raise_for_status()
        body: dict[str, str | None] = answer.json()
        return body

    def store_labels(self, environment: str) -> dict[str, int]:
        store = open_versioned_store(environment, self.loaded.config.secrets, self.root)
        return store.labels("JWT_SECRET")

    def store_value(self, environment: str, label: str) -> str | None:
        store = open_versioned_store(environment, self.loaded.config.secrets, self.root)
        found = store.read("JWT_SECRET", label)
        return found.value if found else None

    def variables(self, environment: str) -> dict[str, str]:
        return open_environment(self.loaded, environment).target.variables()

    def pids(self) -> None:
        for environment in ENVIRONMENTS:
            env = open_environment(self.loaded, environment)
            self.seen_pids |= {r.pid for r in env.target.releases() if r.pid}
            router_pid = getattr(env.router, "pid", None)
            if router_pid:
                self.seen_pids.add(router_pid)

    def everything_written(self) -> str:
        """The registry file, the events, the logs and the state files, as text (for the leak
        grep): all but safeship.toml (the initial values are the test's), the encrypted store
        and the platform's own variables (the local target's ``.variables``: where releases
        read them)."""
        chunks: list[str] = []
        for path in self.root.rglob("*"):
            skipped = path.name in ("safeship.toml", ".variables") or path.suffix == ".enc"
            if path.is_file() and not skipped:
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(chunks)


@pytest.fixture
def rotation_factory(tmp_path: Path) -> Iterator[Callable[..., RotationWorkspace]]:
    made: list[RotationWorkspace] = []

    def factory(
        kind: str = "random",
        grace: float = 0,
        options: str = "length = 32",
        production_env: str = "",
        deploy: bool = True,
    ) -> RotationWorkspace:
        root = tmp_path / f"ws{len(made)}"
        root.mkdir()
        ports = {name: free_port() for name in ENVIRONMENTS}
        text = '[project]\nname = "rotation"\n'
        for name in ENVIRONMENTS:
            text += _ENV_TABLE.format(
                name=name,
                port=ports[name],
                app=APP,
                initial=INITIAL[name],
                env=production_env if name == "production" else "",
                extra="",
            )
        text += _SECRETS.format(grace=grace, kind=kind, options=options)
        (root / "safeship.toml").write_text(text, encoding="utf-8")
        ws = RotationWorkspace(root, load_config(root / "safeship.toml"), ports)
        made.append(ws)
        if deploy:
            for name in ENVIRONMENTS:
                result = core.deploy(ws.loaded, core.DeployRequest(name, "v1", "abc123"))
                assert result.ok, result.reason
        return ws

    yield factory
    seen: set[int] = set()
    for ws in made:
        ws.pids()
        seen |= ws.seen_pids
        for name in ENVIRONMENTS:
            operations.down(ws.loaded, name)
    left = sorted(pid for pid in seen if is_running(pid))
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"processes left running after the test: {left}"


def assert_no_value(ws: RotationWorkspace, values: list[str], *outputs: str) -> None:
    written = ws.everything_written()
    for value in values:
        assert value not in written, "a secret value reached the registry or a state file"
        for output in outputs:
            assert value not in output, "a secret value reached an output"


def test_a_full_rotation_moves_labels_variables_and_releases(
    rotation_factory: Callable[..., RotationWorkspace],
) -> None:
    ws = rotation_factory()
    notices: list[tuple[str, str, str]] = []

    result = core.rotate_secret(
        ws.loaded,
        "JWT_SECRET",
        triggered_by=ACTOR,
        on_progress=lambda n: notices.append((n.environment, n.step, n.what)),
    )

    assert (result.status, result.ok, result.reason) == ("finished", True, None)
    assert result.environments == ENVIRONMENTS
    new_values: list[str] = []
    for name in ENVIRONMENTS:
        # The store: the imported value is previous (version 1), the new one current (2).
        assert ws.store_labels(name) == {"current": 2, "previous": 1}
        assert ws.store_value(name, "previous") == INITIAL[name]
        new = ws.store_value(name, "current")
        assert new is not None and new != INITIAL[name] and len(new) == 32
        new_values.append(new)
        # The platform variables, and the release that serves.
        variables = ws.variables(name)
        assert variables["JWT_SECRET"] == new
        assert variables["JWT_SECRET_PREVIOUS"] == new  # dropped: set to the new value
        serving = ws.serving(name)
        assert serving["version"] == f"v1+rot.{result.id}"
        assert (serving["sha"], serving["previous_sha"]) == (digest(new), digest(INITIAL[name]))
    # The audit trail: every step done, by the actor, fingerprints that tell versions apart.
    steps = [(s.environment, s.step, s.status) for s in result.steps]
    assert steps == [
        (env, step, "done")
        for env in ENVIRONMENTS
        for step in ("create", "apply", "test", "deploy")
    ] + [(env, "finish", "done") for env in ENVIRONMENTS]
    assert notices == steps
    assert {s.actor for s in result.steps} == {ACTOR}
    create = result.steps[0]
    assert create.version == 2 and create.fingerprint and create.previous_fingerprint
    assert create.fingerprint != create.previous_fingerprint
    deploys = [s for s in result.steps if s.step == "deploy"]
    assert all(s.deployment_id for s in deploys)
    # The events, environment-level, with fingerprints.
    events = [e for e in core_events(ws) if e["event"].startswith("secret.")]
    assert [e["event"] for e in events] == [
        "secret.rotation_started",
        "secret.rotation_deployed",
        "secret.rotated",
    ]
    assert events[-1]["attributes"]["fingerprints"]["production"]["create"] == (
        result.steps[4].fingerprint
    )
    history = core.rotation_history(ws.loaded, "JWT_SECRET")
    assert [h.id for h in history] == [result.id] and len(history[0].steps) == 10
    statuses = core.secret_statuses(ws.loaded)
    assert [(s.environment, s.state, s.last_rotated_by) for s in statuses] == [
        ("staging", "ok", ACTOR),
        ("production", "ok", ACTOR),
    ]
    ws.pids()
    assert_no_value(ws, [*new_values, *INITIAL.values()])


def core_events(ws: RotationWorkspace) -> list[dict[str, object]]:
    import json

    path = ws.loaded.state_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
