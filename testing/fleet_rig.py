"""A fleet workspace for the fleet's pipeline tests, acceptance test and benchmark: a
safeship.toml whose ``production`` deploys the fleet app (testing/fleet_app.py, one tarball per
version) over SSH to fake hosts (testing/fleet_hosts.py) behind a private HAProxy.

The app's behaviour comes from its version's name (fleet_app reads it): ``*-errors`` answers
half of /api requests with 500; any version answers ``GET /crash`` by exiting (a crash on the
one host it is sent to).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeship import core
from safeship._processes import free_port
from safeship.config import LoadedConfig, load_config
from safeship.pipeline import operations
from safeship.targets.base import FleetRelease
from testing.fleet_app import pack_app
from testing.fleet_hosts import FakeHosts

ENV = "production"

FLEET_CONFIG = """\
[project]
name = "fleet"

[registry]
url = "sqlite:///{root}/registry.db"

[environments.{env}]
port = {port}
strategy = "{strategy}"
steps = {steps}
bake_time = {bake_time}
drain_timeout = 2
{settings}

[environments.{env}.router]
type = "haproxy"
check_interval = 0.2
fall = 2
rise = 1
connect_timeout = 0.5
hard_stop_after = 5

[environments.{env}.health]
retries = 40
backoff = 0.1
interval = 0.25

[environments.{env}.rollback]
error_rate = 0.05
min_requests = 20
{tables}
"""


@dataclass
class FleetWorkspace:
    root: Path
    hosts: FakeHosts
    loaded: LoadedConfig
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self, version: str) -> FleetRelease | None:
        """The running release of ``version`` (its instances on the hosts that answer)."""
        from safeship.pipeline.environment import open_environment

        for release in open_environment(self.loaded, ENV).target.releases():
            if release.version == version and isinstance(release, FleetRelease):
                return release
        return None

    def down(self) -> None:
        operations.down(self.loaded, ENV)

    def set_bake_time(self, seconds: float) -> None:
        """Change bake_time in safeship.toml and reload it (a first deploy bakes too)."""
        path = self.root / "safeship.toml"
        text = re.sub(r"(?m)^bake_time = .*$", f"bake_time = {seconds}", path.read_text())
        path.write_text(text, encoding="utf-8")
        self.loaded = load_config(path)


def make_fleet_workspace(
    root: Path,
    hosts: FakeHosts,
    versions: tuple[str, ...],
    *,
    strategy: str = "canary",
    steps: tuple[int, ...] = (10, 50, 100),
    bake_time: float = 1.0,
    settings: str = "",
    tables: str = "",
    setup: bool = True,
    **target: Any,
) -> FleetWorkspace:
    """A workspace whose ``production`` runs ``versions`` of the fleet app (each packed now)
    on ``hosts``, prepared (`hosts setup`) unless ``setup`` is False; ``target``: more keys of
    the ssh target's table (batch_size, ...)."""
    root.mkdir(parents=True, exist_ok=True)
    dist = root / "dist"
    for version in versions:
        pack_app(dist, version)
    port = free_port()
    text = FLEET_CONFIG.format(
        root=root,
        env=ENV,
        port=port,
        strategy=strategy,
        steps=list(steps),
        bake_time=bake_time,
        settings=settings,
        tables=tables,
    )
    table = hosts.target_toml(ENV, command=["python", "app.py"], **target)
    artifact = f"\n[environments.{ENV}.target.artifact]\npath = {json.dumps(str(dist))}"
    artifact = artifact[:-1] + '/app-{version}.tar.gz"\n'
    (root / "safeship.toml").write_text(text + "\n" + table + artifact, encoding="utf-8")
    loaded = load_config(root / "safeship.toml")
    if setup:  # the host agent in this workspace's remote_dir
        prepared = core.hosts_setup(loaded, ENV)
        assert all(h.ready for h in prepared), prepared
    return FleetWorkspace(root, hosts, loaded, port)
