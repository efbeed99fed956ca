"""The options many commands share, declared once (Typer annotations). Not for the fast path
(safeship.cli.fast parses its few command lines without Typer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
