"""safeship status [ENV]."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from safeship.cli.common import console, load
from safeship.cli.render import backends_weights, judgement_table, stats_table
from safeship.pipeline import operations


def run(config: Path | None, environment: str | None) -> int:
    loaded = load(config)
    names = [environment] if environment else sorted(loaded.config.environments)
    for name in names:
        s = operations.status(loaded, name)
        router = "running" if s.router_running else "stopped"
        console.print(Text.assemble((name, "bold"), f" · port {s.port} · router {router}"))
        for release in s.releases:
            state = "alive" if s.alive.get(release.version) else "dead"
            console.print(
                f"  release {release.version}: pid {release.pid}, port {release.port}, {state}"
            )
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
            console.print(f"  last deployment: {s.last.version} {s.last.status}{reason}")
            analysis = s.last.metadata.get("analysis")
            if isinstance(analysis, dict):  # the canary judge's latest figures
                console.print(judgement_table(analysis))
    return 0
