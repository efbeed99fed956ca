"""Pieces every command shares: loading the config, the consoles."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from safeship.config import LoadedConfig, find_config, load_config

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def load(config: Path | None) -> LoadedConfig:
    return load_config(find_config(config))
