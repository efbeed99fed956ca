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
INITIAL = {
    "staging": "staging-jwt-initial-0123456789abcdef",
    "production": "prod-jwt-initial-0123456789abcdef",
}
ACTOR = "tester"

_ENV_TABLE = """
[environments.{name}]
port = {port}
strategy = "all-at-once"
bake_time = {bake_time}
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
        deploy_to: tuple[str, ...] = ENVIRONMENTS,
        bake_time: float = 0.2,
    ) -> RotationWorkspace:
        root = tmp_path / f"ws{len(made)}"
        root.mkdir()
        ports = {name: free_port() for name in ENVIRONMENTS}
        text = '[project]\nname = "rotation"\n'
        for name in ENVIRONMENTS:
            text += _ENV_TABLE.format(
                bake_time=bake_time,
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
            for name in deploy_to:
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
    # About 4 s: four real deploys (v1 to each environment, then each rotation's blue-green).
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
    with Registry(ws.loaded.registry_url()) as registry:
        made = [registry.get(str(s.deployment_id)) for s in deploys]
    assert [(d.status, d.strategy, d.triggered_by) for d in made if d] == [
        ("succeeded", "blue-green", ACTOR)
    ] * 2
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


def test_a_deploy_failing_with_the_new_value_keeps_the_old_one_current_and_working(
    rotation_factory: Callable[..., RotationWorkspace],
) -> None:
    # Production's release answers its health check only with its initial value: the new
    # value's deploy fails there (about 3 s: its health retries run out). Staging, rotated
    # first, keeps its new value.
    healthy = f', SECRET_APP_HEALTHY_SHA = "{digest(INITIAL["production"])}"'
    ws = rotation_factory(production_env=healthy)

    result = core.rotate_secret(ws.loaded, "JWT_SECRET", triggered_by=ACTOR)

    assert not result.ok
    assert result.status == "finished"  # staging's part finished normally (grace 0)
    assert result.reason is not None and result.reason.startswith("production deploy: ")
    production = [(s.step, s.status) for s in result.steps if s.environment == "production"]
    assert production == [
        ("create", "done"),
        ("apply", "done"),
        ("test", "done"),
        ("deploy", "failed"),
        ("discard", "done"),
    ]
    # Production: the pending version discarded, the variables and the release as before.
    assert ws.store_labels("production") == {"current": 1}
    assert ws.variables("production")["JWT_SECRET"] == INITIAL["production"]
    assert ws.variables("production")["JWT_SECRET_PREVIOUS"] == INITIAL["production"]
    serving = ws.serving("production")
    assert (serving["version"], serving["sha"]) == ("v1", digest(INITIAL["production"]))
    # Staging runs the new value, finished.
    assert ws.store_labels("staging") == {"current": 2, "previous": 1}
    staging_value = ws.store_value("staging", "current")
    assert staging_value is not None
    assert ws.serving("staging")["sha"] == digest(staging_value)
    failed = [e for e in core_events(ws) if e["event"] == "secret.rotation_failed"]
    assert len(failed) == 1 and failed[0]["environment"] == "production"
    discarded = store_versions(ws, "production")
    ws.pids()
    assert_no_value(ws, [staging_value, *discarded, *INITIAL.values()])


def store_versions(ws: RotationWorkspace, environment: str) -> list[str]:
    """Every value the store holds for JWT_SECRET in ``environment`` (to grep for)."""
    store = open_versioned_store(environment, ws.loaded.config.secrets, ws.root)
    values = []
    for info in store.versions("JWT_SECRET"):
        found = store.read_version("JWT_SECRET", info.version)
        if found is not None:
            values.append(found.value)
    return values


MANUAL = 'checklist = ["Make a key at the provider"]\nrevoke_checklist = ["Delete the old key"]'


def test_manual_waits_for_set_then_finishes_after_its_grace_or_with_force(
    rotation_factory: Callable[..., RotationWorkspace],
) -> None:
    # Nothing serves (no deploy): each deploy step is skipped, the value is the next deploy's.
    ws = rotation_factory(kind="manual", grace=3600, options=MANUAL, deploy=False)
    [before, _] = core.secret_statuses(ws.loaded)
    assert (before.state, before.period_days, before.last_rotated_at) == ("never_rotated", 30, None)

    waiting = core.rotate_secret(ws.loaded, "JWT_SECRET", triggered_by=ACTOR)

    assert (waiting.status, waiting.waiting_in, waiting.holder) == ("waiting", "staging", None)
    [event] = [e for e in core_events(ws) if e["event"] == "secret.rotation_waiting"]
    assert event["attributes"]["checklist"] == [
        "Make a key at the provider",
        "safeship secrets set JWT_SECRET --environment staging",
    ]
    with pytest.raises(core.RotationRefused, match=r"waits for a value: safeship secrets set"):
        core.rotate_secret(ws.loaded, "JWT_SECRET", triggered_by=ACTOR)
    with pytest.raises(core.RotationRefused, match=r"no rotation waiting .* in production"):
        core.set_secret_value(ws.loaded, "JWT_SECRET", "production", "x" * 20, triggered_by=ACTOR)

    values = {
        "staging": "manual-staging-value-abcdef012345",
        "production": "manual-prod-value-abcdef0123456",
    }
    after_staging = core.set_secret_value(
        ws.loaded, "JWT_SECRET", "staging", values["staging"], triggered_by=ACTOR
    )
    assert (after_staging.status, after_staging.waiting_in) == ("waiting", "production")
    grace = core.set_secret_value(
        ws.loaded, "JWT_SECRET", "production", values["production"], triggered_by=ACTOR
    )

    assert (grace.status, grace.ok) == ("grace", True)
    assert grace.grace_until is not None and grace.grace_until > datetime.now(UTC)
    assert [(s.environment, s.step, s.status) for s in grace.steps] == [
        ("staging", "create", "skipped"),
        ("staging", "set", "done"),
        ("staging", "apply", "done"),
        ("staging", "test", "done"),
        ("staging", "deploy", "skipped"),
        ("production", "create", "skipped"),
        ("production", "set", "done"),
        ("production", "apply", "done"),
        ("production", "test", "done"),
        ("production", "deploy", "skipped"),
    ]
    for name in ENVIRONMENTS:
        assert ws.store_labels(name) == {"current": 1, "pending": 2}
        assert ws.variables(name)["JWT_SECRET"] == values[name]
    with pytest.raises(core.RotationRefused, match=r"grace period runs until .*--force"):
        core.finish_rotation(ws.loaded, "JWT_SECRET", triggered_by=ACTOR)
    assert core.finish_due_rotations(ws.loaded) == []

    finished = core.finish_rotation(ws.loaded, "JWT_SECRET", force=True, triggered_by=ACTOR)

    assert (finished.status, finished.ok) == ("finished", True)
    assert [s.detail for s in finished.steps if s.step == "finish"] == ["Delete the old key"] * 2
    for name in ENVIRONMENTS:
        assert ws.store_labels(name) == {"current": 2, "previous": 1}
    now = datetime.now(UTC)
    due = {
        days: [s.state for s in core.secret_statuses(ws.loaded, now=now + timedelta(days=days))]
        for days in (0, 25, 31)
    }
    assert due == {0: ["ok", "ok"], 25: ["due", "due"], 31: ["overdue", "overdue"]}
    assert_no_value(ws, [*values.values(), *INITIAL.values()])


def test_one_process_runs_a_rotation_and_resume_takes_over_a_dead_one(
    rotation_factory: Callable[..., RotationWorkspace],
) -> None:
    from safeship.pipeline.lease import operator

    ws = rotation_factory(kind="manual", options=MANUAL, deploy=False)
    waiting = core.rotate_secret(ws.loaded, "JWT_SECRET", triggered_by=ACTOR)
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with Registry(ws.loaded.registry_url()) as registry:
            registry.claim_rotation(
                waiting.id, holder=f"{operator()} pid {living.pid}", holder_is_dead=lambda h: False
            )
        with pytest.raises(RotationBusy, match=rf"is running \(.* pid {living.pid},"):
            core.rotate_secret(ws.loaded, "JWT_SECRET", resume=True, triggered_by=ACTOR)
        with pytest.raises(RotationBusy):
            core.set_secret_value(ws.loaded, "JWT_SECRET", "staging", "y" * 20, triggered_by=ACTOR)
    finally:
        living.kill()
        living.wait(timeout=10)

    # Its holder is gone: --resume takes the rotation over (it waits for a value again).
    resumed = core.rotate_secret(ws.loaded, "JWT_SECRET", resume=True, triggered_by=ACTOR)

    assert (resumed.id, resumed.status, resumed.holder) == (waiting.id, "waiting", None)
    with pytest.raises(
        core.RotationRefused,
        match=r"^no secret 'NOPE' to rotate: add a "
        r"\[secrets\.rotate\.NOPE\] table",
    ):
        core.rotate_secret(ws.loaded, "NOPE", triggered_by=ACTOR)


def test_a_rotation_killed_at_each_step_is_resumed_to_the_new_value(
    rotation_factory: Callable[..., RotationWorkspace],
) -> None:
    # About 8 s: three `safeship secrets rotate` processes, each SIGKILLed once a step is
    # done (the deploy: while its deployment is open), and three resumed rotations' deploys.
    ws = rotation_factory(deploy_to=("production",))
    command = [sys.executable, "-m", "safeship", "secrets", "rotate", "JWT_SECRET"]
    before = 0
    for kill_after in ("create", "test", "deploy"):
        proc = subprocess.Popen(
            [*command, "--environments", "production"],
            cwd=ws.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            reached = wait_for_step(ws, kill_after, proc, after=before)
        finally:
            proc.send_signal(signal.SIGKILL)  # no cleanup at all
            proc.wait(timeout=10)
        ws.pids()
        assert reached, f"the rotation never reached its {kill_after} step"

        resumed = core.rotate_secret(ws.loaded, "JWT_SECRET", resume=True, triggered_by=ACTOR)

        assert (resumed.status, resumed.ok, resumed.environments) == (
            "finished",
            True,
            ("production",),
        ), (kill_after, resumed.reason)
        current = ws.store_value("production", "current")
        assert current is not None and ws.store_labels("production")["current"] == (
            ws.store_labels("production")["previous"] + 1
        )
        serving = ws.serving("production")
        assert (serving["version"], serving["sha"]) == (f"v1+rot.{resumed.id}", digest(current))
        assert ws.variables("production")["JWT_SECRET"] == current
        if kill_after == "deploy":  # the killed deploy was recovered, then deployed again
            with Registry(ws.loaded.registry_url()) as registry:
                tries = registry.history("production", limit=2)
            assert [d.version for d in tries] == [f"v1+rot.{resumed.id}"] * 2
            assert tries[0].status == "succeeded"
            assert tries[1].status in ("aborted", "rolled_back")
            assert "orchestrator lost" in (tries[1].rollback_reason or "")
        before = resumed.id
    ws.pids()
    assert_no_value(ws, [*store_versions(ws, "production"), *INITIAL.values()])


def wait_for_step(
    ws: RotationWorkspace, step: str, proc: subprocess.Popen[bytes], *, after: int
) -> bool:
    """Poll the registry (at most 30 s) until the process's rotation (newer than ``after``)
    has its ``step`` done (the deploy step: its deployment open); False if it ended first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        with Registry(ws.loaded.registry_url()) as registry:
            newest = registry.rotations("JWT_SECRET", limit=1)
            record = registry.rotation(newest[0].id) if newest else None
            record = record if record is not None and record.id > after else None
            if record is not None and step == "deploy":
                version = f"+rot.{record.id}"
                if any(d.version.endswith(version) for d in registry.active("production")):
                    return True
            elif record is not None and any(
                s.step == step and s.status == "done" for s in record.steps
            ):
                return True
        time.sleep(0.02)
    return False


def test_claiming_a_rotation_checks_its_holder_on_both_backends(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        rotation_id = registry.start_rotation(
            "JWT_SECRET", "random", "application", ["staging"], ACTOR, "a@h pid 1"
        )
        with pytest.raises(RotationBusy, match=r"^the rotation of JWT_SECRET \(#\d+\) is running"):
            registry.claim_rotation(rotation_id, holder="b@h pid 2", holder_is_dead=lambda h: False)
        claimed = registry.claim_rotation(
            rotation_id, holder="b@h pid 2", holder_is_dead=lambda h: h == "a@h pid 1"
        )
        assert claimed.holder == "b@h pid 2"
        registry.release_rotation(rotation_id, "a@h pid 1")  # not its holder: nothing changes
        assert (registry.rotation(rotation_id) or claimed).holder == "b@h pid 2"
        registry.release_rotation(rotation_id, "b@h pid 2")
        released = registry.rotation(rotation_id)
        assert released is not None and released.holder is None
        # No holder (a rotation waiting, or in its grace period): anyone claims it.
        again = registry.claim_rotation(rotation_id, holder="c@h pid 3", holder_is_dead=bool)
        assert again.holder == "c@h pid 3"


_REFUSING_PROVIDER = """
[secrets.rotate.API_KEY]
kind = "command"
category = "api"
create = ["python3", "-c", "print('api-key-' + 'n' * 24)"]
revoke = ["python3", "-c", "import sys; sys.exit('the provider refused the revoke')"]
"""


def test_finishing_due_rotations_goes_on_past_one_that_fails(
    rotation_factory: Callable[..., RotationWorkspace],
) -> None:
    # Nothing serves (no deploy): each rotation goes straight to its one-second grace.
    ws = rotation_factory(grace=1, deploy=False)
    path = ws.root / "safeship.toml"
    text = path.read_text(encoding="utf-8").replace(  # a live key to revoke, everywhere
        'env = { JWT_SECRET = "', 'env = { API_KEY = "api-key-initial-0123456789", JWT_SECRET = "'
    )
    path.write_text(text + _REFUSING_PROVIDER, encoding="utf-8")
    ws.reload()
    for name in ("JWT_SECRET", "API_KEY"):  # API_KEY newest: its finish is tried first
        result = core.rotate_secret(ws.loaded, name, triggered_by=ACTOR)
        assert (result.status, result.ok) == ("grace", True), result
    time.sleep(1.1)

    with pytest.raises(core.RotationFailed) as failed:
        core.finish_due_rotations(ws.loaded, triggered_by="serve")

    message = str(failed.value)
    assert message.startswith("API_KEY (staging) finish: ") and "\n" not in message
    assert "the provider refused the revoke" in message and message.endswith("(1 finished)")
    statuses = {s.secret: s for s in core.rotation_history(ws.loaded)}
    assert statuses["JWT_SECRET"].status == "finished"
    assert statuses["API_KEY"].status == "grace"  # tried again at the next run
