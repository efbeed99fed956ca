"""`safeship demo`: three deploys of the demo service under steady load, all on this machine.

v1 goes out all at once, v2 (healthy) through the canary steps, v3 answers 500 to a fifth of
its requests once it takes traffic and is rolled back on its own while v2 keeps serving.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from safeship._processes import free_port as free_port  # also imported from here (benchmarks)
from safeship.config import ConfigError, LoadedConfig, load_config
from safeship.core._reports import store_reports
from safeship.demo.load import NO_RELEASE, LoadGenerator, LoadTotals
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.states import Status
from safeship.registry import DeploymentRecord

ENVIRONMENT = "local"
# Each step's bake: long enough for a person to watch the canary steps.
BAKE_TIME = 3.0
# Not documented for users: the test suite runs `safeship demo` with a shorter bake (seconds).
BAKE_TIME_VARIABLE = "SAFESHIP_DEMO_BAKE_TIME"

DEMO_CONFIG = """\
# The demo's embedded safeship.toml (examples/demo-app/safeship.toml is the same, on port 8080).
[project]
name = "demo"

[registry]
url = "sqlite:///.safeship/registry.db"

[environments.local]
port = {port}
strategy = "canary"
steps = [10, 50, 100]
bake_time = {bake_time}

[environments.local.target]
type = "local"
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]
# v3 answers HTTP 500 to 20% of its API requests.
env = {{ DEMO_BEHAVIOUR_V3 = "error_rate=0.2" }}

[environments.local.health]
path = "/api/health"

[environments.local.rollback]
error_rate = 0.05
min_requests = 20
"""

# (version, what it should end as)
PLAN: tuple[tuple[str, Status], ...] = (
    ("v1", Status.SUCCEEDED),
    ("v2", Status.SUCCEEDED),
    ("v3", Status.ROLLED_BACK),
)


@dataclass
class DemoResult:
    workdir: Path
    outcomes: list[DeploymentOutcome] = field(default_factory=list)
    history: list[DeploymentRecord] = field(default_factory=list)
    load: LoadTotals = field(default_factory=LoadTotals)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def demo_bake_time() -> float:
    raw = os.environ.get(BAKE_TIME_VARIABLE)
    if raw is None:
        return BAKE_TIME
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 60:
        raise ConfigError([f"{BAKE_TIME_VARIABLE}: not a number of seconds from 0 to 60"])
    return seconds


def write_demo_config(workdir: Path, port: int, bake_time: float = BAKE_TIME) -> LoadedConfig:
    path = workdir / "safeship.toml"
    path.write_text(DEMO_CONFIG.format(port=port, bake_time=bake_time), encoding="utf-8")
    return load_config(path)


def run_demo(
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    on_outcome: Callable[[DeploymentOutcome], None] | None = None,
    keep: bool = False,
    rate: float = 100.0,
) -> DemoResult:
    bake_time = demo_bake_time()
    workdir = Path(tempfile.mkdtemp(prefix="safeship-demo-"))
    result = DemoResult(workdir)
    loaded = write_demo_config(workdir, free_port(), bake_time)
    port = loaded.config.environments[ENVIRONMENT].port
    load = LoadGenerator(f"http://127.0.0.1:{port}/api/v1/items", rate=rate, max_seconds=90)
    try:
        for index, (version, expected) in enumerate(PLAN):
            outcome = operations.deploy(
                loaded,
                ENVIRONMENT,
                version,
                commit=f"demo{index + 1:03d}",
                triggered_by="demo",
                on_progress=on_progress,
            )
            result.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
            if outcome.status is not expected:
                result.problems.append(f"{version} ended {outcome.status}, expected {expected}")
                break
            if index == 0:
                load.start()  # traffic starts once something serves it
        result.load = load.stop()
        store_reports(loaded, ENVIRONMENT)  # as `safeship deploy` does: each deploy's report
        result.history = list(reversed(operations.history(loaded, ENVIRONMENT)))
    finally:
        load.stop()
        operations.down(loaded, ENVIRONMENT)
        if not keep:
            _keep_only_the_registry(workdir)
    _judge_load(result)
    return result


def _keep_only_the_registry(workdir: Path) -> None:
    """Remove the demo's logs and run files but its config and registry (a few hundred KB), so
    `safeship serve --config WORKDIR/safeship.toml` shows the three deploys afterwards."""
    kept = {workdir / "safeship.toml", workdir / ".safeship" / "registry.db"}
    for path in sorted(workdir.rglob("*"), reverse=True):  # children before their parents
        if any(k == path or k.is_relative_to(path) for k in kept):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def serve_command(workdir: Path) -> str:
    """The command that serves the demo's registry on the dashboard."""
    return f"safeship serve --config {workdir / 'safeship.toml'}"


def _judge_load(result: DemoResult) -> None:
    """The point of the demo: the stable release answered every request it got."""
    bad = {version for version, expected in PLAN if expected is Status.ROLLED_BACK}
    for release, failed in result.load.failed.items():
        if failed and release not in bad:
            who = "no release" if release == NO_RELEASE else f"stable release {release}"
            result.problems.append(f"{failed} requests failed that {who} answered")
    if sum(result.load.ok.values()) == 0:
        result.problems.append("the load generator got no successful answer")
