"""safeship promote ENV / safeship abort ENV: answer a deployment paused at a step."""

from __future__ import annotations

from pathlib import Path

from safeship.cli.common import console, err_console, load
from safeship.pipeline.requests import NotPaused, Request, request


def run(config: Path | None, environment: str, action: Request) -> int:
    try:
        record = request(load(config), environment, action)
    except NotPaused as exc:
        err_console.print(f"safeship: error: {exc}", soft_wrap=True)
        return 1
    step = record.metadata.get("paused_at")
    console.print(f"{environment}: {action} requested for {record.version} (paused at {step}%)")
    return 0
