"""safeship release --version V [--to ENV] | --resume [--release ID] [--retry]; release status."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli import params
from safeship.cli.options import ConfigOption

if TYPE_CHECKING:
    from safeship import core
    from safeship.core import LiveSnapshot

release_app = typer.Typer(
    help="Walk one version through the chain of environments (requires), resumable.",
    invoke_without_command=True,
)


def _version(value: str | None) -> str | None:
    return None if value is None else params.version(value)


@release_app.callback()
def release(
    ctx: typer.Context,
    version: Annotated[
        str | None,
        typer.Option("--version", "-V", help="Version to release.", callback=_version),
    ] = None,
    commit: Annotated[
        str | None, typer.Option(help="Commit SHA of the version.", callback=params.commit)
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The environment it ends at (default: the whole chain).",
            callback=params.environment,
        ),
    ] = None,
    triggered_by: Annotated[
        str, typer.Option(help="Who or what started it.", callback=params.triggered_by)
    ] = "cli",
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the newest unfinished release.")
    ] = False,
    release_id: Annotated[
        int | None, typer.Option("--release", min=1, help="The release --resume continues.")
    ] = None,
    retry: Annotated[
        bool, typer.Option("--retry", help="With --resume: deploy a failed step again.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Deploy VERSION to each environment in chain order (each with all its gates), stopping
    at the first that fails; --resume continues one a crash or Ctrl-C stopped."""
    if ctx.invoked_subcommand is not None:
        return
    if resume == (version is not None):
        raise typer.BadParameter("give --version V, or --resume", param_hint="--version")
    if not resume and (release_id is not None or retry):
        raise typer.BadParameter("--release and --retry go with --resume", param_hint="--resume")
    if resume and (commit is not None or to is not None):
        raise typer.BadParameter(
            "--resume continues a release as it was started", param_hint="--commit/--to"
        )
    from safeship import core

    request = None if version is None else core.ReleaseRequest(version, commit, to, triggered_by)
    raise typer.Exit(run(config, request, release_id, retry))


@release_app.command("status")
def status(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Releases to show.")] = 10,
    config: ConfigOption = None,
) -> None:
    """Releases, newest first, each with its steps."""
    raise typer.Exit(run_status(config, limit))


def run(
    config: Path | None,
    request: core.ReleaseRequest | None,
    release_id: int | None = None,
    retry: bool = False,
) -> int:
    """``request`` None: resume ``release_id`` (default: the newest unfinished release)."""
    from safeship import core
    from safeship.cli.common import console, load
    from safeship.cli.live import LiveDisplay, sigterm_as_interrupt

    loaded = load(config)
    display = LiveDisplay(console)  # the running step's deploy, as `safeship deploy` shows it
    walking: list[int] = []
    waiting: set[str] = set()

    def notice(n: core.ReleaseNotice) -> None:
        walking[:] = [n.release_id]
        if n.what != "deploying":
            display.close()
        _say(_notice_line(n))

    def progress(snapshot: LiveSnapshot) -> None:
        display(snapshot)
        if snapshot.status.value == "awaiting_approval" and snapshot.deployment_id not in waiting:
            waiting.add(snapshot.deployment_id)
            _say(
                f"{snapshot.environment}: waiting for approval of deployment "
                f"{snapshot.deployment_id[:8]} (safeship approve {snapshot.deployment_id[:8]})"
            )

    try:
        with sigterm_as_interrupt():
            if request is None:
                summary = core.resume_release(
                    loaded, release_id=release_id, retry=retry, on_notice=notice,
                    on_progress=progress,
                )  # fmt: skip
            else:
                summary = core.release(loaded, request, on_notice=notice, on_progress=progress)
    except core.Interrupted as stopped:
        display.close()
        which = f" --release {walking[0]}" if walking else ""
        _say(f"safeship: error: interrupted: {stopped}; `safeship release --resume{which}` "
             "continues the release", error=True)  # fmt: skip
        return 130
    finally:
        display.close()
    steps = ", ".join(s.environment for s in summary.steps)
    if summary.ok:
        _say(f"release {summary.id} of {summary.version} succeeded: {steps}")
        return 0
    _say(f"release {summary.id} of {summary.version} {summary.status}: {summary.reason}")
    return 1


def _notice_line(n: core.ReleaseNotice) -> str:
    line = f"release {n.release_id} [{n.position + 1}/{n.count}] {n.environment}: "
    deployment = f"deployment {n.deployment_id[:8]}" if n.deployment_id else ""
    if n.what == "recovered":  # the deploy a stopped safeship left open, closed before redeploying
        return line + f"closed {deployment or 'the deployment'} a stopped safeship left open"
    line += n.what
    if n.what == "skipped":
        line += f" ({n.reason or 'done'}{', ' + deployment if deployment else ''})"
        return line
    if deployment:
        line += f" ({deployment})"
    if n.reason and n.what in ("failed", "aborted"):
        line += f": {n.reason}"
    return line


def run_status(config: Path | None, limit: int) -> int:
    from safeship import core
    from safeship.cli.common import load

    found = core.releases(load(config), limit=limit)
    if not found:
        _say("no releases yet")
    for summary in found:
        commit = f" at {summary.commit[:12]}" if summary.commit else ""
        head = (
            f"release {summary.id}: {summary.version}{commit} {summary.status}, started "
            f"{summary.started_at:%Y-%m-%d %H:%M:%S} UTC by {summary.triggered_by}"
        )
        if summary.status == "running":
            head += f" ({summary.holder})"
        if summary.reason:
            head += f": {summary.reason}"
        _say(head)
        for step in summary.steps:
            line = f"  {step.position + 1}. {step.environment}: {step.status}"
            if step.deployment_id:
                line += f" (deployment {step.deployment_id[:8]})"
            if step.reason:
                line += f": {step.reason}"
            _say(line)
    return 0


def _say(line: str, *, error: bool = False) -> None:
    """One plain line (no markup), redacted and printable: a reason may quote an API's answer."""
    from rich.text import Text

    from safeship.cli.common import console, err_console
    from safeship.redaction import redact
    from safeship.validation import printable

    (err_console if error else console).print(Text(printable(redact(line))), soft_wrap=True)
