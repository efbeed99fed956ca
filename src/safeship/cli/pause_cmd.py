"""safeship promote ENV / safeship abort ENV: answer a paused deployment, abort a running one."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from safeship import core
from safeship.cli.common import console, err_console, load


def run(config: Path | None, environment: str, action: Literal["promote", "abort"]) -> int:
    answer = core.promote if action == "promote" else core.abort
    try:
        deployment = answer(load(config), environment)
    except core.RequestRefused as exc:
        err_console.print(f"safeship: error: {exc}", soft_wrap=True)
        return 1
    console.print(
        f"{environment}: {action} requested for {deployment.version} ({deployment.where})"
    )
    return 0


def run_rollback_while_running(config: Path | None, environment: str) -> int | None:
    """`safeship rollback ENV` when another command holds the environment's lease: ask the
    running deployment to roll back (exit 0), or None when no deployment is running."""
    deployment = core.abort_running(load(config), environment)
    if deployment is None:
        return None
    print_abort_requested(environment, deployment)
    return 0


def print_abort_requested(environment: str, deployment: core.DeploymentSummary) -> None:
    console.print(
        f"{environment}: a deployment of {deployment.version} is running ({deployment.where}); "
        "abort requested: it rolls back to the stable release"
    )
