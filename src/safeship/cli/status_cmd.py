"""safeship status [ENV]."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from safeship import core
from safeship.cli.common import console, load
from safeship.cli.render import judgement_table, traffic_table


def run(config: Path | None, environment: str | None) -> int:
    for s in core.status(load(config, reuse=True), environment):
        router = "running" if s.router_running else "stopped"
        where = f"port {s.port}" if s.port is not None else "platform-routed"
        console.print(Text.assemble((s.environment, "bold"), f" · {where} · router {router}"))
        for release in s.releases:
            state = "alive" if release.alive else "dead"
            # A platform's release has no local process: its URL says where it runs.
            at = f"pid {release.pid}, port {release.port}" if release.pid else release.url
            if release.instances:  # a fleet: each host's instance
                count = len(release.instances)
                at = f"{count} host{'s' if count > 1 else ''}: " + ", ".join(
                    f"{i.host} ({i.url.removeprefix('http://')}, pid {i.pid})"
                    for i in release.instances
                )
            console.print(f"  release {release.version}: {at}, {state}", soft_wrap=True)
        if s.target_error is not None:
            console.print(Text(f"  releases: unknown ({s.target_error})"), soft_wrap=True)
        if s.router_running:
            console.print(traffic_table("traffic since router start", s.traffic))
        if s.last:
            reason = f" ({s.last.rollback_reason})" if s.last.rollback_reason else ""
            console.print(
                Text(f"  last deployment: {s.last.version} {s.last.state}{reason}"),
                soft_wrap=True,
            )
            if s.last.health:  # a finished deployment's score (docs/registry.md)
                console.print(f"  {s.last.health}", soft_wrap=True)
            if s.last.analysis is not None:  # the canary judge's latest figures
                console.print(judgement_table(s.last.analysis))
    return 0
