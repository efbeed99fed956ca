"""Pieces every command shares: loading the config, the consoles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from safeship.config import LoadedConfig, find_config, load_config

# Piped output (CI logs, `| less`) has no terminal width; 80 columns would fold the tables.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120

console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)


def load(config: Path | None) -> LoadedConfig:
    return load_config(find_config(config))
