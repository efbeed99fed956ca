"""Show a running deployment: an updating view on a terminal, one line per change otherwise."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.live import Live

from safeship.cli.render import live_view
from safeship.pipeline.deploy import LiveSnapshot


class LiveDisplay:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._live: Live | None = None
        self._last_key: tuple[str, str, int | None] | None = None
        self._last_stats_line = 0.0

    def __call__(self, snapshot: LiveSnapshot) -> None:
        if self._console.is_terminal:
            if self._live is None:
                self._live = Live(console=self._console, refresh_per_second=8, transient=False)
                self._live.start()
            self._live.update(live_view(snapshot))
            return
        key = (snapshot.version, snapshot.status.value, snapshot.step)
        if key == self._last_key:
            # Without a terminal to redraw, a line of live figures every second instead.
            if snapshot.window and snapshot.elapsed - self._last_stats_line >= 1.0:
                self._last_stats_line = snapshot.elapsed
                self._console.print("           " + _figures(snapshot))
            return
        if key != self._last_key:
            self._last_key = key
            step = f" step {snapshot.step}%" if snapshot.step is not None else ""
            weights = ", ".join(f"{n} {w}%" for n, w in sorted(snapshot.weights.items()))
            self._last_stats_line = snapshot.elapsed
            self._console.print(
                f"  [{snapshot.elapsed:5.1f}s] {snapshot.version} {snapshot.status.value}{step}"
                + (f"  traffic: {weights}" if weights else "")
            )

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._last_key = None


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so a deploy being stopped rolls back cleanly."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _figures(snapshot: LiveSnapshot) -> str:
    parts = []
    for name in sorted(snapshot.weights):
        stats = snapshot.window.get(name)
        if stats is None:
            continue
        rate = f"{stats.error_rate:.1%}" if stats.requests else "-"
        parts.append(f"{name}: {stats.requests} req, {stats.errors} err ({rate})")
    return " | ".join(parts)
