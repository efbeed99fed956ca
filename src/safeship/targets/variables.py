"""The variables file of the targets that start releases themselves (local, ssh): variables
set through ``set_variable`` (secrets kept out of safeship.toml), a private JSON object that
overrides the config's ``env``."""

from __future__ import annotations

import json
from pathlib import Path

from safeship._files import write_private_json
from safeship.targets.base import TargetError


def stored_variables(path: Path) -> dict[str, str]:
    """The variables in ``path`` ({} when it does not exist); TargetError (one line) when it
    cannot be read as a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise TargetError(f"{path}: unreadable: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise TargetError(f"{path}: not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def store_variable(path: Path, name: str, value: str) -> None:
    """Set ``name=value`` in ``path`` (written whole, 0600)."""
    write_private_json(path, {**stored_variables(path), name: value})
