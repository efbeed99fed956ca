"""safeship deploy ENV --version V [--via-paths | --emergency]."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from safeship import core
from safeship.cli.common import console, err_console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import outcome_line
from safeship.redaction import redact

if TYPE_CHECKING:
    from rich.console import Console


def override_reason(override_gates: bool, reason: str | None) -> str | None:
    """The reason of `--override-gates --reason TEXT` (None: no override); a usage error when
    one comes without the other."""
    if override_gates and not (reason and reason.strip()):
        raise core.UsageError("--override-gates needs --reason TEXT (it is recorded and alerted)")
    if reason is not None and not override_gates:
        raise core.UsageError("--reason goes with --override-gates")
    return reason.strip() if override_gates and reason else None


def run(
    config: Path | None,
    request: core.DeployRequest,
    log_format: str = "live",
    override_reason: str | None = None,
) -> int:
    """``log_format`` json: the events as JSON lines on stdout (for a log shipper) instead of
    the live view; the outcome line goes to stderr then. ``override_reason``: --override-gates,
    refused before anything runs unless SAFESHIP_TOKEN is an approver's."""
    loaded = load(config)
    if override_reason is not None:
        token = os.environ.get(core.TOKEN_VARIABLE)
        approver = core.identify(loaded, token, "approver", "--override-gates")
        override = core.GatesOverride(override_reason, approver.name)
        request = dataclasses.replace(request, override=override)
    as_json = log_format == "json"
    display = LiveDisplay(console)
    try:
        with sigterm_as_interrupt():
            result = core.deploy(
                loaded,
                request,
                on_progress=None if as_json else display,
                on_failover=lambda f: _line(
                    err_console.print, f"failover: {f.path} -> {f.next_path}: {f.reason}"
                ),
                on_finished=display.close,
                event_log=sys.stdout if as_json else None,
            )
    except core.Interrupted as stopped:
        display.close()
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    finally:
        display.close()
    _print_result(request, result, err_console if as_json else console)
    return 0 if result.ok else 1


def _print_result(
    request: core.DeployRequest, result: core.DeployResult, out: Console = console
) -> None:
    if request.mode is core.DeployMode.LOCAL:
        out.print(outcome_line(result), soft_wrap=True)
    elif result.status is not None:  # it ran here: its outcome, and the path it took
        out.print(outcome_line(result).append(f" (path {result.path})"), soft_wrap=True)
    else:  # a CI path ran it: its run's conclusion
        state = "deployed" if result.ok else "failed"
        line = f"{request.version} {state} through {result.path} (run {result.run_id}: "
        line += f"{result.conclusion})"
        line += f": {result.detail}" if result.detail else ""
        line += f" {result.url}" if result.url else ""
        _line(out.print, line)
    if result.followup_warning:
        _line(err_console.print, result.followup_warning)
    if result.followup:
        _line(out.print, result.followup)


def _line(printer: Callable[..., None], text: str) -> None:
    """One plain line (no markup), redacted: a reason may quote an API's answer."""
    printer(Text(redact(text)), soft_wrap=True)
