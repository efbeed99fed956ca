"""safeship history [ENV] [--json]."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from safeship.cli.common import console, load
from safeship.cli.render import history_table
from safeship.pipeline import operations


def run(config: Path | None, environment: str | None, limit: int, json_output: bool) -> int:
    records = operations.history(load(config), environment, limit)
    if json_output:
        print(json.dumps([dataclasses.asdict(r) for r in records], indent=2, default=_json_default))
    elif not records:
        console.print("no deployments yet")
    else:
        console.print(history_table(records))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")
