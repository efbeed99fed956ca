"""safeship outage check [ENV...] | status [ENV...]: outage mode's probe, from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safeship.cli.options import ConfigOption

outage_app = typer.Typer(
    help="Outage mode: the availability probe that pauses deploys.", no_args_is_help=True
)

EnvironmentsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Environments (default: every configured one).", show_default=False),
]


@outage_app.callback()
def _group() -> None:
    """Outage mode: while an environment's platform API or status page fails its probe,
    deploys there are paused (emergency deploys still go through)."""


@outage_app.command("check")
def check(environments: EnvironmentsArgument = None, config: ConfigOption = None) -> None:
    """Probe now, once: pause after [outage] failures in a row, resume when it answers."""
    raise typer.Exit(run_check(config, environments or []))


@outage_app.command("status")
def status(environments: EnvironmentsArgument = None, config: ConfigOption = None) -> None:
    """Each environment: its probe, failures in a row, paused since when and why."""
    raise typer.Exit(run_status(config, environments or []))


def run_check(config: Path | None, environments: list[str]) -> int:
    """Exit 1 when an environment is paused after the probe."""
    from safeship import core
    from safeship.cli.common import load

    paused = False
    for probe in core.outage_check(load(config), environments):
        if probe.probe is None:
            print(f"{probe.environment}: no probe (no status_url, no platform API)")
            continue
        state = "up" if probe.up else "DOWN"
        line = f"{probe.environment}: {probe.probe} {state} ({probe.detail}, {probe.seconds:.2f} s)"
        if probe.change == "paused":
            line += f"; deploys PAUSED after {probe.failures} failed probes in a row"
        elif probe.change == "resumed":
            line += "; deploys resumed"
        elif probe.paused_since is not None:
            line += f"; deploys paused since {probe.paused_since:%Y-%m-%d %H:%M:%S} UTC"
        elif not probe.up:
            line += f"; {probe.failures} of {probe.threshold} failed probes before a pause"
        paused = paused or probe.paused_since is not None
        print(line)
    return 1 if paused else 0


def run_status(config: Path | None, environments: list[str]) -> int:
    from safeship import core
    from safeship.cli.common import load

    for state in core.outage_status(load(config), environments):
        probe = state.probe or "no probe"
        if state.paused_since is not None:
            since = f"{state.paused_since:%Y-%m-%d %H:%M:%S} UTC"
            print(f"{state.environment}: PAUSED since {since} ({probe}): {state.reason}")
        elif state.failures:
            print(
                f"{state.environment}: deploys allowed ({probe}); {state.failures} of "
                f"{state.threshold} failed probes before a pause: {state.reason}"
            )
        else:
            print(f"{state.environment}: deploys allowed ({probe})")
    return 0
