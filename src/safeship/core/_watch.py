"""Watching a serving environment between deploys: the core's face of
``safeship.pipeline.watch`` (plain arguments in, reports out; `serve` calls the same)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from safeship.config import LoadedConfig
from safeship.core._health import UsageError

if TYPE_CHECKING:
    from safeship.pipeline.watch import WatchReport


def parse_duration_seconds(text: str, option: str) -> float:
    """``30s``, ``15m``, ``2h``, ``1d`` (or plain seconds) as seconds; a usage error else."""
    from safeship.envschema.types import parse_duration

    spec = text.strip()
    try:
        seconds = float(spec) if spec.replace(".", "", 1).isdigit() else None
        if seconds is None:
            seconds = parse_duration(spec).total_seconds()
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a duration (30s, 15m, 2h, 1d)") from None
    if seconds <= 0:
        raise UsageError(f"{option}: the duration must be more than 0")
    return seconds


def watch(
    loaded: LoadedConfig,
    environment: str,
    *,
    interval: float | None = None,
    once: bool = False,
    duration: str | None = None,
    on_report: Callable[[WatchReport], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Check ``environment`` each interval (see safeship.pipeline.watch) until ``duration``
    (``15m``) has passed, ``stop`` is set or Ctrl-C; once with ``once``. The checks made."""
    from safeship.health.resolve import require_resolvable
    from safeship.pipeline import watch as watching
    from safeship.pipeline.environment import open_environment

    seconds = parse_duration_seconds(duration, "--for") if duration is not None else None
    open_environment(loaded, environment)  # an unknown environment: the config error
    require_resolvable(loaded, environment)  # a health check's variable not set: now
    return watching.watch(
        loaded,
        environment,
        interval=interval,
        once=once,
        duration=seconds,
        on_report=on_report,
        stop=stop,
    )
