"""safeship promote ENV / safeship abort ENV: answer a paused deployment, abort a running one."""

from __future__ import annotations

from pathlib import Path

from safeship.cli.common import console, err_console, load
from safeship.pipeline.requests import Request, RequestRefused, abort_running, request
from safeship.registry import DeploymentRecord


def run(config: Path | None, environment: str, action: Request) -> int:
    try:
        record = request(load(config), environment, action)
    except RequestRefused as exc:
        err_console.print(f"safeship: error: {exc}", soft_wrap=True)
        return 1
    console.print(f"{environment}: {action} requested for {record.version} ({where(record)})")
    return 0


def run_rollback_while_running(config: Path | None, environment: str) -> int | None:
    """`safeship rollback ENV` when another command holds the environment's lease: ask the
    running deployment to roll back (exit 0), or None when no deployment is running."""
    record = abort_running(load(config), environment)
    if record is None:
        return None
    console.print(
        f"{environment}: a deployment of {record.version} is running ({where(record)}); "
        "abort requested: it rolls back to the stable release"
    )
    return 0


def where(record: DeploymentRecord) -> str:
    """Where the deployment is: ``paused at 10%``, ``progressing at 50%``, ``monitoring``."""
    paused = record.metadata.get("paused_at")
    if paused:
        return f"paused at {paused}%"
    step = f" at {record.current_step}%" if record.current_step is not None else ""
    return f"{record.status}{step}"
