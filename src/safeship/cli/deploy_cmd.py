"""safeship deploy ENV --version V [--via-paths | --emergency]."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from safeship import core
from safeship.cli.common import console, err_console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import outcome_line
from safeship.redaction import redact


def run(config: Path | None, request: core.DeployRequest) -> int:
    loaded = load(config)
    display = LiveDisplay(console)
    try:
        with sigterm_as_interrupt():
            result = core.deploy(
                loaded,
                request,
                on_progress=display,
                on_failover=lambda f: _line(
                    err_console.print, f"failover: {f.path} -> {f.next_path}: {f.reason}"
                ),
                on_finished=display.close,
            )
    except core.Interrupted as stopped:
        display.close()
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    finally:
        display.close()
    _print_result(request, result)
    return 0 if result.ok else 1


def _print_result(request: core.DeployRequest, result: core.DeployResult) -> None:
    if request.mode is core.DeployMode.LOCAL:
        console.print(outcome_line(result), soft_wrap=True)
    elif result.status is not None:  # it ran here: its outcome, and the path it took
        console.print(outcome_line(result).append(f" (path {result.path})"), soft_wrap=True)
    else:  # a CI path ran it: its run's conclusion
        state = "deployed" if result.ok else "failed"
        line = f"{request.version} {state} through {result.path} (run {result.run_id}: "
        line += f"{result.conclusion})"
        line += f": {result.detail}" if result.detail else ""
        line += f" {result.url}" if result.url else ""
        _line(console.print, line)
    if result.followup_warning:
        _line(err_console.print, result.followup_warning)
    if result.followup:
        _line(console.print, result.followup)


def _line(printer: Callable[..., None], text: str) -> None:
    """One plain line (no markup), redacted: a reason may quote an API's answer."""
    printer(Text(redact(text)), soft_wrap=True)
