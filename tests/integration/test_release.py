"""`safeship release`, run for real: one version through staging then production (the demo
service, all at once), each step an ordinary deploy with its gates; a failing production step
fails the release, `--retry` deploys it again, Ctrl-C leaves the release resumable; a release
whose safeship is SIGKILLed mid-production is resumed to success; a second release of a
running version is refused. The record (``releases``, ``release_steps``) on both registry
backends."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from safeship import core
from safeship.cli import release_cmd
from safeship.pipeline import operations
from safeship.registry import Registry
from safeship.registry.releases import ReleaseBusy
from testing.fixtures import ENV, REQUIRES_STAGING, Workspace, staging_table

WorkspaceFactory = Callable[..., Workspace]


def chained(factory: WorkspaceFactory, **kwargs: object) -> Workspace:
    """staging, then ``local`` (production: requires staging)."""
    return factory(
        strategy="all-at-once",
        settings=REQUIRES_STAGING,
        tables=staging_table(),
        **kwargs,
    )


@pytest.fixture
def stop_staging() -> Iterator[list[Workspace]]:
    """Workspaces whose staging to bring down at the end (the factory downs ``local``)."""
    made: list[Workspace] = []
    yield made
    for ws in made:
        operations.down(ws.loaded, "staging")


def statuses(ws: Workspace, deployment_ids: list[str | None]) -> list[str | None]:
    with Registry(ws.loaded.registry_url()) as registry:
        found = [registry.get(d) if d else None for d in deployment_ids]
    return [f.status if f else None for f in found]


def test_a_release_walks_staging_then_production(
    workspace_factory: WorkspaceFactory, stop_staging: list[Workspace]
) -> None:
    ws = chained(workspace_factory, bake_time=0.2)
    stop_staging.append(ws)
    notices: list[tuple[str, str]] = []

    summary = core.release(
        ws.loaded,
        core.ReleaseRequest("v1", "abc123"),
        on_notice=lambda n: notices.append((n.environment, n.what)),
    )

    assert (summary.status, summary.reason, summary.commit) == ("succeeded", None, "abc123")
    assert [(s.environment, s.status) for s in summary.steps] == [
        ("staging", "succeeded"),
        (ENV, "succeeded"),
    ]
    ids = [s.deployment_id for s in summary.steps]
    assert statuses(ws, ids) == ["succeeded", "succeeded"]
    assert notices == [
        ("staging", "deploying"),
        ("staging", "succeeded"),
        (ENV, "deploying"),
        (ENV, "succeeded"),
    ]
    # Production's chain gate saw staging's success of this very deployment.
    with Registry(ws.loaded.registry_url()) as registry:
        chain, approval = registry.gate_results(str(ids[1]))
    assert (approval.gate, approval.outcome) == ("approval", "skipped")  # none required
    assert (chain.gate, chain.outcome) == ("chain", "passed")
    assert chain.figures == {"deployments": {"staging": ids[0]}}
    with pytest.raises(core.ReleaseRefused, match=r"^no unfinished release to resume$"):
        core.resume_release(ws.loaded)


def test_a_failing_production_fails_the_release_and_retry_ctrl_c_resume_finish_it(
    workspace_factory: WorkspaceFactory, stop_staging: list[Workspace]
) -> None:
    # Only production's target crashes v2 on start: staging passes it.
    ws = chained(workspace_factory, bake_time=0.2, behaviours={"v2": "crash_on_start"})
    stop_staging.append(ws)

    summary = core.release(ws.loaded, core.ReleaseRequest("v2"))

    assert summary.status == "failed"
    [staging, production] = summary.steps
    assert (staging.status, production.status) == ("succeeded", "failed")
    assert production.reason is not None and production.reason.startswith("release v2 exited")
    assert summary.reason == f"{ENV}: {production.reason}"
    assert statuses(ws, [production.deployment_id]) == ["failed"]
    # A failure is not retried by a resume unless asked.
    with pytest.raises(core.ReleaseRefused, match=r"^release \d+ of v2 failed: local: .*--retry"):
        core.resume_release(ws.loaded)

    # Fixed (v2 no longer crashes there), --retry deploys production again; staging is done.
    # Ctrl-C in its bake: the deploy's own handling rolls it back, the release stays running.
    path = ws.root / "safeship.toml"
    path.write_text(path.read_text().replace('DEMO_BEHAVIOUR_V2 = "crash_on_start"', ""))
    ws.set_bake_time(30)
    with (
        ctrl_c_when(lambda: production_in(ws, "progressing") is not None),
        pytest.raises(core.Interrupted),
    ):
        core.resume_release(ws.loaded, retry=True)
    [interrupted] = core.releases(ws.loaded, limit=1)
    assert (interrupted.id, interrupted.status) == (summary.id, "running")
    assert (interrupted.steps[1].status, interrupted.steps[1].reason) == (
        "interrupted",
        "interrupted",
    )
    assert statuses(ws, [interrupted.steps[1].deployment_id]) == ["rolled_back"]

    ws.set_bake_time(0.2)
    resumed = core.resume_release(ws.loaded)  # an interrupted step needs no --retry

    assert (resumed.id, resumed.status) == (summary.id, "succeeded")
    assert resumed.steps[0].deployment_id == staging.deployment_id
    assert statuses(ws, [resumed.steps[1].deployment_id]) == ["succeeded"]


@contextlib.contextmanager
def ctrl_c_when(ready: Callable[[], bool]) -> Iterator[None]:
    """Ctrl-C (KeyboardInterrupt in the main thread) once ``ready()``, within 30 s."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            if ready():
                _thread.interrupt_main()
                return
            done.wait(0.1)

    # Python leaves SIGINT ignored when started with it ignored (as a background job is).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=5)
        signal.signal(signal.SIGINT, previous)


def production_in(ws: Workspace, status: str) -> str | None:
    """The id of production's open deployment in ``status``, if there is one."""
    with Registry(ws.loaded.registry_url()) as registry:
        return next((d.id for d in registry.active(ENV) if d.status == status), None)


def test_a_killed_release_is_refused_twice_then_resumed_to_success(
    workspace_factory: WorkspaceFactory,
    stop_staging: list[Workspace],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # About 6 s: a real `safeship release` process (its start, staging's deploy) is killed in
    # production's bake, and the resume deploys production again.
    ws = chained(workspace_factory, bake_time=30)  # production bakes long: the kill lands there
    stop_staging.append(ws)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeship", "release", "--version", "v1"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        killed_id = wait_for_production(ws, "progressing")
        # The version's release runs under a living safeship: a second one is refused.
        with pytest.raises(
            ReleaseBusy, match=rf"^release \d+ of v1 is running \(.* pid {proc.pid},"
        ):
            core.release(ws.loaded, core.ReleaseRequest("v1"))
        with pytest.raises(ReleaseBusy):
            core.resume_release(ws.loaded)
        ws.pids()  # remember the release it leaves behind, for the leak check
    finally:
        proc.send_signal(signal.SIGKILL)  # no cleanup at all
        proc.wait(timeout=10)
    ws.set_bake_time(0.2)
    notices: list[tuple[str, str]] = []

    summary = core.resume_release(
        ws.loaded, on_notice=lambda n: notices.append((n.environment, n.what))
    )

    assert summary.status == "succeeded", summary.reason
    assert notices == [
        ("staging", "skipped"),
        (ENV, "recovered"),
        (ENV, "deploying"),
        (ENV, "succeeded"),
    ]
    production = summary.steps[1]
    assert production.deployment_id != killed_id
    assert statuses(ws, [killed_id, production.deployment_id]) == ["rolled_back", "succeeded"]
    assert summary.holder.endswith(f" pid {os.getpid()}")
    assert release_cmd.run_status(ws.root / "safeship.toml", 5) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"release {summary.id}: v1 succeeded, started ")
    assert (
        lines[1:]
        == [
            f"  1. staging: succeeded (deployment {summary.steps[0].deployment_id[:8]})",  # type: ignore[index]
            f"  2. {ENV}: succeeded (deployment {production.deployment_id[:8]})",  # type: ignore[index]
        ]
    )


def wait_for_production(ws: Workspace, status: str) -> str:
    """The production step's deployment id once that deployment is in ``status``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Opened anew each time: one opened before the release created the file reads empty.
        with Registry(ws.loaded.registry_url()) as registry:
            running = registry.releases(limit=1) if registry.exists else []
            step = running[0].steps[1] if running else None
            if step is not None and step.deployment_id is not None:
                deployment = registry.get(step.deployment_id)
                if deployment is not None and deployment.status == status:
                    return step.deployment_id
        time.sleep(0.25)
    raise AssertionError(f"production's deployment never reached {status}")


# -- the record, on both backends ----------------------------------------------------------


def test_one_running_release_per_version_unless_its_holder_is_gone(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        first = registry.start_release(
            "v1", "abc123", None, ["staging", "production"],
            triggered_by="alice", holder="alice@host pid 1", holder_is_dead=lambda h: False,
        )  # fmt: skip
        assert [(s.position, s.environment, s.status) for s in first.steps] == [
            (0, "staging", "pending"),
            (1, "production", "pending"),
        ]
        with pytest.raises(ReleaseBusy, match=rf"^release {first.id} of v1 is running"):
            registry.start_release(
                "v1", None, None, ["staging"],
                triggered_by="bob", holder="bob@host pid 2", holder_is_dead=lambda h: False,
            )  # fmt: skip
        other = registry.start_release(
            "v2", None, "staging", ["staging"],
            triggered_by="bob", holder="bob@host pid 2", holder_is_dead=lambda h: False,
        )  # fmt: skip
        assert other.status == "running"  # another version is another release

        second = registry.start_release(
            "v1", None, None, ["staging"],
            triggered_by="bob", holder="bob@host pid 3", holder_is_dead=lambda h: h == first.holder,
        )  # fmt: skip
        superseded = registry.release(first.id)
        assert superseded is not None and superseded.status == "aborted"
        assert superseded.reason == (
            f"left unfinished by alice@host pid 1 (gone); superseded by release {second.id}"
        )
        assert superseded.finished_at is not None


def test_steps_are_written_ahead_and_a_release_taken_over(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        release = registry.start_release(
            "v1", None, None, ["staging", "production"],
            triggered_by="cli", holder="a@host pid 1", holder_is_dead=lambda h: False,
        )  # fmt: skip
        deployment = registry.create_deployment("staging", "v1", None, "cli")
        registry.update_release_step(release.id, 0, status="deploying", started=True)
        registry.update_release_step(release.id, 0, deployment_id=deployment)
        registry.update_release_step(release.id, 0, status="failed", reason="boom", finished=True)
        registry.finish_release(release.id, "failed", "staging: boom")
        [step, _] = registry.releases(limit=1)[0].steps
        assert (step.status, step.deployment_id, step.reason) == ("failed", deployment, "boom")
        assert step.started_at is not None and step.started_at <= datetime.now(UTC)
        assert step.finished_at is not None

        with pytest.raises(ReleaseBusy):
            registry.take_over_release(
                registry.start_release(
                    "v1", None, None, ["staging"],
                    triggered_by="cli", holder="b@host pid 2", holder_is_dead=lambda h: False,
                ).id,
                holder="c@host pid 3",
                holder_is_dead=lambda h: False,
            )  # fmt: skip
        taken = registry.take_over_release(
            release.id, holder="c@host pid 3", holder_is_dead=lambda h: True
        )
        assert (taken.status, taken.holder, taken.reason, taken.finished_at) == (
            "running",
            "c@host pid 3",
            None,
            None,
        )
        # A new attempt at a step forgets the last one's deployment and reason.
        registry.update_release_step(release.id, 0, status="deploying", started=True)
        [step, _] = registry.releases(version="v1", statuses=("running",))[-1].steps
        assert (step.status, step.deployment_id, step.reason) == ("deploying", None, None)
