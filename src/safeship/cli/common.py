"""Pieces every command shares: loading the config, the consoles.

The consoles are made on first use (``__getattr__``): a command that prints plain lines
(``config check``, the ``env`` commands) does not import rich.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from safeship.config import LoadedConfig, find_config, load_config

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    err_console: Console


def load(config: Path | None, *, reuse: bool = False) -> LoadedConfig:
    """safeship.toml, validated; ``reuse``: a read-only command may take the last run's
    validation of the same file (safeship.config.cache)."""
    if reuse:
        from safeship.config.cache import load_config_reused

        return load_config_reused(find_config(config))
    return load_config(find_config(config))


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    # Piped output (CI logs, `| less`) has no terminal width; 80 columns would fold the tables.
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
    # No emoji codes: a ":fire:" in a version, a reason or a commit subject stays as typed (and
    # Rich's emoji table, 2.5 ms to import, is never loaded).
    return Console(stderr=stderr, highlight=False, emoji=False, width=width)


def __getattr__(name: str) -> Console:
    if name == "console":
        return _console(stderr=False)
    if name == "err_console":
        return _console(stderr=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
