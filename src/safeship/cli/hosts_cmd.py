"""safeship hosts setup|check|trust ENV: the ssh target's hosts (docs/fleet.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli.options import ConfigOption, JsonOption

if TYPE_CHECKING:
    from safeship.core import HostReport

hosts_app = typer.Typer(
    help="A fleet's hosts: prepare, check, trust their keys.", no_args_is_help=True
)

EnvironmentArgument = Annotated[str, typer.Argument(help="An environment with the ssh target.")]


@hosts_app.callback()
def _group() -> None:
    """The hosts an ssh target deploys to: `trust` records their keys, `setup` prepares them
    (idempotent), `check` shows each one's state."""


@hosts_app.command("setup")
def setup(environment: EnvironmentArgument, config: ConfigOption = None) -> None:
    """Prepare every host: its directory, safeship's host agent, the runtime (idempotent)."""
    from safeship import core
    from safeship.cli.common import load

    raise typer.Exit(_print_hosts(core.hosts_setup(load(config), environment), as_json=False))


@hosts_app.command("check")
def check(
    environment: EnvironmentArgument, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Each host now: reachable, prepared, the releases running there. Exit 1 when one is not."""
    from safeship import core
    from safeship.cli.common import load

    raise typer.Exit(_print_hosts(core.hosts_check(load(config), environment), as_json=as_json))


@hosts_app.command("trust")
def trust(
    environment: EnvironmentArgument,
    hosts: Annotated[
        list[str] | None, typer.Argument(help="Hosts (default: every host).", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Record the hosts' keys in the known_hosts file; compare the fingerprints it prints
    with the hosts' own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on each)."""
    from safeship import core
    from safeship.cli.common import load

    for trusted in core.hosts_trust(load(config), environment, hosts or []):
        how = "added" if trusted.added else "already known"
        print(f"{trusted.host}: {trusted.fingerprint} ({how})")


def _print_hosts(reports: list[HostReport], *, as_json: bool) -> int:
    """One line per host (or JSON); 1 when a host is unreachable or not prepared."""
    if as_json:
        print(json.dumps([asdict(r) | {"releases": dict(r.releases)} for r in reports], indent=2))
    for report in [] if as_json else reports:
        if not report.reachable:
            print(f"{report.host} ({report.address}): UNREACHABLE: {report.detail}")
            continue
        state = "ready" if report.ready else "NOT SET UP (run `safeship hosts setup`)"
        running = ", ".join(f"{v} (pid {pid})" for v, pid in sorted(report.releases.items()))
        line = f"{report.host} ({report.address}): {state}"
        if report.detail:
            line += f"; {report.detail}"
        print(line + (f"; running: {running}" if running else ""))
    return 0 if all(r.reachable and r.ready for r in reports) else 1
