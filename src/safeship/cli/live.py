"""Show a running deployment: an updating view on a terminal, one line per change otherwise."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.text import Text

from safeship.cli.render import live_view
from safeship.core import TERMINAL, Status

if TYPE_CHECKING:
    from safeship.core import LiveSnapshot

# Outside a terminal: a summary line this often (seconds) between state changes.
SUMMARY_INTERVAL = 10.0


class LiveDisplay:
    """A deploy's progress: an updating view on a terminal; otherwise (CI logs, pipes) one
    line per state change, each step's verdict with its figures, and a summary every
    ``summary_interval`` seconds (SUMMARY_INTERVAL)."""

    def __init__(self, console: Console, summary_interval: float = SUMMARY_INTERVAL) -> None:
        self._console = console
        self._summary_interval = summary_interval
        self._live: Live | None = None
        self._last_key: tuple[str, str, int | None, bool] | None = None
        self._last: LiveSnapshot | None = None
        self._last_summary = 0.0

    def __call__(self, snapshot: LiveSnapshot) -> None:
        if self._console.is_terminal:
            if self._live is None:
                self._live = Live(console=self._console, refresh_per_second=8, transient=False)
                self._live.start()
            self._live.update(live_view(snapshot))
            return
        key = (snapshot.version, snapshot.status.value, snapshot.step, snapshot.paused)
        if key == self._last_key:
            due = snapshot.elapsed - self._last_summary >= self._summary_interval
            if snapshot.window and due:
                self._last_summary = snapshot.elapsed
                self._print(snapshot, f"{_state(snapshot)}: {_figures(snapshot)}")
            self._last = snapshot
            return
        previous = self._last
        if previous is not None and previous.step is not None and previous.window:
            # The step that just ended: how it ended, and what it saw.
            self._print(previous, _verdict(previous, snapshot))
        self._last_key = key
        self._last = snapshot
        self._last_summary = snapshot.elapsed
        weights = ", ".join(f"{n} {w}%" for n, w in sorted(snapshot.weights.items()))
        self._print(snapshot, _state(snapshot) + (f"  traffic: {weights}" if weights else ""))

    def _print(self, snapshot: LiveSnapshot, text: str) -> None:
        line = f"  [{snapshot.elapsed:5.1f}s] {snapshot.version} {text}"
        self._console.print(Text(line), soft_wrap=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._last_key = None
        self._last = None


def _state(snapshot: LiveSnapshot) -> str:
    if snapshot.paused and snapshot.status not in TERMINAL:
        return f"paused at {snapshot.step}%: safeship promote|abort"
    step = f" step {snapshot.step}%" if snapshot.step is not None else ""
    return f"{snapshot.status.value}{step}"


def _verdict(ended: LiveSnapshot, now: LiveSnapshot) -> str:
    """``step 10% passed: v2: 120 req, 0 err (0.0%) | v1: ...; judge: pass (score 100)``."""
    if now.status is Status.ROLLED_BACK:
        how = "failed"
    elif ended.paused and not now.paused:
        how = "answered"
    elif now.paused and now.step == ended.step:
        how = "baked"
    else:
        how = "passed"
    where = "monitoring" if ended.status is Status.MONITORING else f"step {ended.step}%"
    text = f"{where} {how}: {_figures(ended)}"
    if ended.judgement is not None:
        text += f"; judge: {ended.judgement.describe()}"
    return text


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
