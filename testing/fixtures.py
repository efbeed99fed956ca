"""Pytest fixtures for deploying the demo service for real: a workspace, load, cleanup.

Every process a test starts through a workspace is stopped by ``operations.down`` at the end,
and the fixture then checks that none of the pids it saw is still alive.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safeship._processes import free_port, is_running
from safeship.config import LoadedConfig, load_config
from safeship.demo.load import LoadGenerator
from safeship.pipeline import operations
from safeship.pipeline.environment import Environment, open_environment

ENV = "local"

WORKSPACE_CONFIG = """\
[project]
name = "test"

[environments.local]
port = {port}
strategy = "{strategy}"
steps = {steps}
bake_time = {bake_time}
router = {{ type = "{router}" }}
{settings}

[environments.local.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
env = {env}

[environments.local.health]
retries = 30
backoff = 0.1
interval = 0.25

[environments.local.rollback]
error_rate = 0.05
min_requests = {min_requests}
{tables}"""


# A second environment of the demo ahead of ``local`` in the chain: a workspace made with
# ``settings=REQUIRES_STAGING, tables=staging_table()`` has staging, then local (production,
# which requires staging). Its processes are the test's to bring down
# (``operations.down(ws.loaded, "staging")``): the workspace fixture downs ``local`` only.
REQUIRES_STAGING = 'requires = ["staging"]'
_STAGING = """
[environments.staging]
port = {port}
strategy = "all-at-once"
bake_time = 0.2

[environments.staging.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]

[environments.staging.health]
retries = 30
backoff = 0.1
"""


def staging_table() -> str:
    return _STAGING.format(port=free_port())


@dataclass
class Workspace:
    """A directory with a safeship.toml for the demo service on a free port."""

    root: Path
    loaded: LoadedConfig
    port: int
    # Every pid pids() has seen; the fixture checks at teardown that none is left alive.
    seen_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> Environment:
        return open_environment(self.loaded, ENV)

    def pids(self) -> set[int]:
        env = self.environment()
        pids = {r.pid for r in env.target.releases() if r.pid}
        router_pid = getattr(env.router, "pid", None)
        if router_pid:
            pids.add(router_pid)
        self.seen_pids |= pids
        return pids

    def cli(self) -> list[str]:
        return [sys.executable, "-m", "safeship"]

    def set_bake_time(self, seconds: float) -> None:
        """Change bake_time in safeship.toml and reload it. A first deploy bakes too (all at
        once, at 100%): a test that needs long bakes for a later deploy makes the first one
        with a short bake, then lengthens it."""
        path = self.root / "safeship.toml"
        text = re.sub(r"(?m)^bake_time = .*$", f"bake_time = {seconds}", path.read_text())
        path.write_text(text, encoding="utf-8")
        self.loaded = load_config(path)


def make_workspace(
    root: Path,
    behaviours: dict[str, str] | None = None,
    bake_time: float = 1.0,
    min_requests: int = 10,
    router: str = "builtin",
    strategy: str = "canary",
    steps: tuple[int, ...] = (10, 50, 100),
    settings: str = "",
    tables: str = "",
) -> Workspace:
    """``settings``: more lines for ``[environments.local]``; ``tables``: more TOML tables
    (e.g. ``[environments.local.analysis]``), appended at the end."""
    port = free_port()
    env = ", ".join(f'DEMO_BEHAVIOUR_{v.upper()} = "{b}"' for v, b in (behaviours or {}).items())
    text = WORKSPACE_CONFIG.format(
        port=port,
        bake_time=bake_time,
        env="{ " + env + " }",
        min_requests=min_requests,
        router=router,
        strategy=strategy,
        steps=list(steps),
        settings=settings,
        tables=tables,
    )
    (root / "safeship.toml").write_text(text, encoding="utf-8")
    return Workspace(root, load_config(root / "safeship.toml"), port)


@pytest.fixture
def workspace_factory(tmp_path: Path) -> Iterator[Callable[..., Workspace]]:
    made: list[Workspace] = []

    def factory(**kwargs: object) -> Workspace:
        root = tmp_path / f"ws{len(made)}"
        root.mkdir()
        ws = make_workspace(root, **kwargs)  # type: ignore[arg-type]
        made.append(ws)
        return ws

    yield factory
    seen: set[int] = set()
    for ws in made:
        ws.pids()
        seen |= ws.seen_pids
        operations.down(ws.loaded, ENV)
    left = sorted(pid for pid in seen if is_running(pid))
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"processes left running after the test: {left}"


@pytest.fixture
def workspace(workspace_factory: Callable[..., Workspace]) -> Workspace:
    return workspace_factory(behaviours={"bad": "error_rate=0.2"})


@pytest.fixture
def load_factory() -> Iterator[Callable[[str], LoadGenerator]]:
    started: list[LoadGenerator] = []

    def factory(url: str, rate: float = 100.0) -> LoadGenerator:
        load = LoadGenerator(url + "/api/v1/items", rate=rate, max_seconds=60).start()
        started.append(load)
        return load

    yield factory
    for load in started:
        load.stop()
