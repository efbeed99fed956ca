"""safeship logs [ENV] [--deployment ID] [--since] [--limit N] [--follow]: the structured
deployment log, one JSON object per line."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from safeship import core
from safeship.cli.common import load
from safeship.redaction import redact

# Seconds between two reads of the registry while following.
FOLLOW_INTERVAL = 1.0


def run(
    config: Path | None,
    query: core.LogQuery,
    *,
    follow: bool = False,
    out: TextIO | None = None,
    interval: float = FOLLOW_INTERVAL,
    stop: threading.Event | None = None,
) -> int:
    """``stop``: ends a follow when set (as Ctrl-C does)."""
    stream = out or sys.stdout
    loaded = load(config)
    try:
        entries = core.deployment_log(loaded, query)
    except core.UsageError as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        return 2
    last = _print(entries, stream, query.after)
    # Following: what is written after the last entry shown, until Ctrl-C.
    stopping = stop or threading.Event()
    try:
        while follow and not stopping.wait(interval):
            newer = core.deployment_log(
                loaded, core.LogQuery(query.environment, query.deployment, None, 1000, last)
            )
            last = _print(newer, stream, last)
    except KeyboardInterrupt:
        return 0
    return 0


def _print(entries: list[core.LogEntry], stream: TextIO, last: int | None) -> int | None:
    for entry in entries:
        # The registry holds redacted events already; a value registered as secret since, too.
        line = json.dumps(entry.as_document(), ensure_ascii=False, default=str)
        print(redact(line), file=stream, flush=True)
        last = entry.id
    return last
