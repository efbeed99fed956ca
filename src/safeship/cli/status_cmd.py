"""safeship status [ENV]."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from safeship.cli.common import console, load
from safeship.cli.render import backends_weights, deployment_state, judgement_table, stats_table
from safeship.pipeline import operations


def run(config: Path | None, environment: str | None) -> int:
    loaded = load(config)
    names = [environment] if environment else sorted(loaded.config.environments)
    for name in names:
        s = operations.status(loaded, name)
        router = "running" if s.router_running else "stopped"
        where = f"port {s.port}" if s.port is not None else "platform-routed"
        console.print(Text.assemble((name, "bold"), f" · {where} · router {router}"))
        for release in s.releases:
            state = "alive" if s.alive.get(release.version) else "dead"
            # A platform's release has no local process: its URL says where it runs.
            at = f"pid {release.pid}, port {release.port}" if release.pid else release.url
            console.print(f"  release {release.version}: {at}, {state}", soft_wrap=True)
        if s.target_error is not None:
            console.print(Text(f"  releases: unknown ({s.target_error})"), soft_wrap=True)
        if s.router_running:
            console.print(
                stats_table(
                    "traffic since router start",
                    backends_weights(s.backends),
                    {n: st for n, st in s.stats.items() if n in backends_weights(s.backends)},
                )
            )
        if s.last:
            reason = f" ({s.last.rollback_reason})" if s.last.rollback_reason else ""
            console.print(
                Text(f"  last deployment: {s.last.version} {deployment_state(s.last)}{reason}"),
                soft_wrap=True,
            )
            analysis = s.last.metadata.get("analysis")
            if isinstance(analysis, dict):  # the canary judge's latest figures
                console.print(judgement_table(analysis))
    return 0
