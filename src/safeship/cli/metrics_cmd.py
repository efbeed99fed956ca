"""safeship metrics [--listen HOST:PORT]: the deployment metrics for Prometheus.

Printed once by default (for a textfile collector or a look); with ``--listen`` served at
``http://HOST:PORT/metrics``, each scrape reading the registry, until Ctrl-C or ``--for``
seconds. (``safeship serve`` will serve them beside its other jobs.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

# The port Prometheus' exporter registry lists for nothing else nearby; loopback by default.
DEFAULT_LISTEN = "127.0.0.1:9464"


def command(
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help=f"Serve GET /metrics on HOST:PORT (e.g. {DEFAULT_LISTEN}) until Ctrl-C.",
        ),
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option("--for", min=0.1, max=31_536_000, help="With --listen: stop after this."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
    ] = None,
) -> None:
    """Deployment metrics in Prometheus' text format: printed, or served with --listen."""
    raise typer.Exit(run(config, listen, seconds))


def run(config: Path | None, listen: str | None, seconds: float | None) -> int:
    from safeship import core
    from safeship.cli.common import load

    loaded = load(config)
    if listen is None:
        sys.stdout.write(core.metrics_exposition(loaded))
        return 0
    host, port = parse_listen(listen)
    try:
        server = core.serve_metrics(loaded, host, port)
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    print(f"serving deployment metrics on {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as (host, port); BadParameter otherwise."""
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise typer.BadParameter(
            f"--listen must be HOST:PORT (e.g. {DEFAULT_LISTEN}), not {text!r}"
        )
    return host, int(port_text)
