"""safeship history [ENV] [--json]."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from safeship import core
from safeship.cli.common import console, load
from safeship.cli.render import history_table


def run(config: Path | None, environment: str | None, limit: int, json_output: bool) -> int:
    deployments = core.history(load(config, reuse=True), core.HistoryQuery(environment, limit))
    if json_output:
        print(json.dumps([d.as_json() for d in deployments], indent=2, default=_json_default))
    elif not deployments:
        console.print("no deployments yet")
    else:
        console.print(history_table(deployments))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")
