"""Write-ahead rollback intents: a rollback never waits on the registry.

A rollback writes its registry update to a private file in the environment's run directory
first (``rollback-<deployment id>.intent``), then moves the router's weights, then writes the
registry and removes the file. A registry locked by another process (SQLite) or unreachable
(PostgreSQL) therefore delays only the record, never the traffic switch; and if the record
could not be written at all (or safeship died in between), the next command that recovers the
environment (`safeship recover`, the next deploy or rollback) completes it from the file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeship._files import write_private

if TYPE_CHECKING:
    from safeship.registry import Registry

_SUFFIX = ".intent"
_PREFIX = "rollback-"


def _path(run_dir: Path, deployment_id: str) -> Path:
    return run_dir / f"{_PREFIX}{deployment_id}{_SUFFIX}"


def write_intent(run_dir: Path, deployment_id: str, update: Mapping[str, Any]) -> Path:
    """Record the registry update a rollback is about to make (``Registry.update_deployment``
    keyword arguments)."""
    path = _path(run_dir, deployment_id)
    write_private(path, json.dumps({"deployment_id": deployment_id, "update": dict(update)}))
    return path


def clear_intent(run_dir: Path, deployment_id: str) -> None:
    _path(run_dir, deployment_id).unlink(missing_ok=True)


def pending(run_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """The intents left in ``run_dir``: (deployment id, update), oldest first."""
    found: list[tuple[float, str, dict[str, Any]]] = []
    for path in run_dir.glob(f"{_PREFIX}*{_SUFFIX}"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append((path.stat().st_mtime, str(data["deployment_id"]), dict(data["update"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: left for a person to look at
    return [(deployment_id, update) for _, deployment_id, update in sorted(found)]


def complete_pending(run_dir: Path, registry: Registry) -> list[str]:
    """Apply every intent left in ``run_dir`` to the registry (the caller holds the
    environment's lease); the deployment ids completed. A deployment that already reached a
    final status keeps it. Registry errors propagate: the intent stays for the next try."""
    done: list[str] = []
    for deployment_id, update in pending(run_dir):
        record = registry.get(deployment_id)
        if record is not None and not record.is_terminal:
            # An intent written before the metadata bag was dropped names the rule inside it.
            bag = update.pop("metadata", None)
            rollback = bag.get("rollback") if isinstance(bag, dict) else None
            if isinstance(rollback, dict) and isinstance(rollback.get("rule"), str):
                update.setdefault("rollback_rule", rollback["rule"])
            registry.update_deployment(deployment_id, **update)
            done.append(deployment_id)
        clear_intent(run_dir, deployment_id)
    return done


def safe_clear(run_dir: Path | None, deployment_id: str) -> None:
    if run_dir is not None:
        with contextlib.suppress(OSError):
            clear_intent(run_dir, deployment_id)
