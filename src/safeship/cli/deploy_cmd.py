"""safeship deploy ENV --version V [--via-paths | --emergency]."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path

from rich.text import Text

from safeship.cli.common import console, err_console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import outcome_line
from safeship.config import LoadedConfig
from safeship.pipeline.deploy import DeployRefused, Interrupted
from safeship.redaction import redact


class Mode(Enum):
    LOCAL = "local"  # the pipeline on this machine, as always
    PATHS = "paths"  # [paths].order with failover
    EMERGENCY = "emergency"  # this machine, CI skipped, the checks and rollback kept


def mode_for(*, via_paths: bool, emergency: bool) -> Mode:
    if via_paths and emergency:
        raise DeployRefused(
            "--via-paths and --emergency exclude each other: "
            "an emergency deploy runs from this machine only"
        )
    return Mode.PATHS if via_paths else Mode.EMERGENCY if emergency else Mode.LOCAL


def run(
    config: Path | None,
    environment: str,
    version: str,
    commit: str | None,
    triggered_by: str,
    mode: Mode = Mode.LOCAL,
) -> int:
    loaded = load(config)
    display = LiveDisplay(console)
    try:
        with sigterm_as_interrupt():
            return _deploy(loaded, environment, version, commit, triggered_by, mode, display)
    except Interrupted as stopped:
        display.close()
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    finally:
        display.close()


def _deploy(
    loaded: LoadedConfig,
    environment: str,
    version: str,
    commit: str | None,
    triggered_by: str,
    mode: Mode,
    display: LiveDisplay,
) -> int:
    from safeship.pipeline import operations, paths_deploy

    if mode is Mode.PATHS:
        result = paths_deploy.deploy_via_paths(
            loaded,
            environment,
            version,
            commit=commit,
            triggered_by=triggered_by,
            on_progress=display,
            on_failover=lambda f: _line(
                err_console.print, f"failover: {f.path} -> {f.next_path}: {f.reason}"
            ),
        )
        display.close()
        if result.outcome is not None:
            console.print(
                outcome_line(result.outcome).append(f" (path {result.path})"), soft_wrap=True
            )
        else:
            state = "deployed" if result.ok else "failed"
            line = f"{version} {state} through {result.path} (run {result.run_id}: "
            line += f"{result.conclusion})"
            line += f": {result.detail}" if result.detail else ""
            line += f" {result.url}" if result.url else ""
            _line(console.print, line)
        return 0 if result.ok else 1
    if mode is Mode.EMERGENCY:
        outcome = paths_deploy.emergency_deploy(
            loaded,
            environment,
            version,
            commit=commit,
            triggered_by=triggered_by,
            on_progress=display,
        )
        display.close()
        console.print(
            outcome_line(outcome).append(f" (path {paths_deploy.EMERGENCY_PATH})"), soft_wrap=True
        )
        # The GitHub issue for the hotfix pull request, or the reminder to open one.
        line, warning = paths_deploy.emergency_followup(
            loaded, environment, commit, triggered_by, outcome
        )
        if warning:
            _line(err_console.print, warning)
        _line(console.print, line)
        return 0 if outcome.ok else 1
    outcome = operations.deploy(
        loaded,
        environment,
        version,
        commit=commit,
        triggered_by=triggered_by,
        on_progress=display,
    )
    display.close()
    console.print(outcome_line(outcome), soft_wrap=True)
    return 0 if outcome.ok else 1


def _line(printer: Callable[..., None], text: str) -> None:
    """One plain line (no markup), redacted: a reason may quote an API's answer."""
    printer(Text(redact(text)), soft_wrap=True)
