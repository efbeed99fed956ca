"""safeship secrets rotate NAME [--environments a,b] [--resume] | set NAME --environment ENV |
finish [NAME] [--force] | status [--json] | history [NAME] [--json].

Exit codes: 0 ok, 1 a failed rotation (or a failure to act now: busy, a store that cannot be
reached), 2 usage. No line shows a value: versions are numbers and fingerprints. The actor is
SAFESHIP_TOKEN's user (a deployer at least), else ``cli:<os user>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli import params
from safeship.cli.options import ConfigOption, JsonOption

if TYPE_CHECKING:
    from safeship import core
    from safeship.config import LoadedConfig

secrets_app = typer.Typer(
    help="Rotate secrets without downtime: rotate, set a manual value, finish, status, history.",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str, typer.Argument(help="The secret ([secrets.rotate.NAME]).", callback=params.text)
]


@secrets_app.command("rotate")
def rotate(
    name: NameArgument,
    environments: Annotated[
        str | None,
        typer.Option(
            "--environments",
            help="Comma-separated, in order (default: the secret's, else every one).",
            callback=params.text,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on with the secret's open rotation.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Rotate NAME: a new value in each environment in turn, deployed blue-green, the old one
    valid until the grace period ends."""
    order = None
    if environments is not None:
        order = [params.environment(e.strip()) or "" for e in environments.split(",") if e.strip()]
        if not order:
            raise typer.BadParameter("name at least one environment", param_hint="--environments")
        if resume:
            raise typer.BadParameter(
                "--resume goes on as the rotation was started", param_hint="--environments"
            )
    from safeship import core

    loaded = _load(config)
    actor = _actor(loaded)
    with _interruptible(name):
        result = core.rotate_secret(
            loaded, name, environments=order, resume=resume, triggered_by=actor,
            on_progress=_notice,
        )  # fmt: skip
    raise typer.Exit(_ended(result))


@secrets_app.command("set")
def set_value(
    name: NameArgument,
    environment: Annotated[
        str,
        typer.Option(
            "--environment", "-e", help="Where the rotation waits.", callback=params.environment
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """The new value of a manual rotation: from stdin when it is not a terminal, else a prompt
    without echo (never an argument: it would stay in the shell's history)."""
    from safeship import core

    loaded = _load(config)
    actor = _actor(loaded)
    value = _read_value(name, environment)
    with _interruptible(name):
        result = core.set_secret_value(
            loaded, name, environment, value, triggered_by=actor, on_progress=_notice
        )
    raise typer.Exit(_ended(result))


@secrets_app.command("finish")
def finish(
    name: Annotated[
        str | None,
        typer.Argument(
            help="The secret (default: every one whose grace passed).", callback=params.text
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Finish before the grace period ends.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Make the new value current and revoke the previous one."""
    from safeship import core

    loaded = _load(config)
    actor = _actor(loaded)
    if name is None:
        if force:
            raise typer.BadParameter("--force finishes one secret: name it", param_hint="--force")
        done = core.finish_due_rotations(loaded, triggered_by=actor)
        if not done:
            _say("no rotation's grace period has passed")
        code = 0
        for result in done:
            code = max(code, _ended(result))
        raise typer.Exit(code)
    raise typer.Exit(_ended(core.finish_rotation(loaded, name, force=force, triggered_by=actor)))


@secrets_app.command("status")
def status(json_output: JsonOption = False, config: ConfigOption = None) -> None:
    """Each rotated secret per environment: age, period, category, next due, last rotated by."""
    from safeship import core

    found = core.secret_statuses(_load(config))
    if json_output:
        print(json.dumps([s.as_json() for s in found], indent=2))
        raise typer.Exit(0)
    if not found:
        _say("no rotated secrets: add [secrets.rotate.NAME] tables to safeship.toml")
    for s in found:
        age = "never rotated" if s.age_days is None else f"{s.age_days:.1f} days old"
        period = "on demand" if s.period_days <= 0 else f"every {s.period_days:g} days"
        due = f", due {s.next_due:%Y-%m-%d}" if s.next_due else ""
        last = ""
        if s.last_rotated_at is not None:
            by = f" by {s.last_rotated_by}" if s.last_rotated_by else ""
            last = f", last {s.last_rotated_at:%Y-%m-%d %H:%M} UTC{by}"
        line = f"{s.secret} {s.environment}: {s.state} ({s.kind}, {s.category}, {period}, {age}"
        line += f"{due}{last})"
        if s.rotation_status:
            step = s.rotation_step or ""
            line += f"; rotation {s.rotation_status}" + (f" at {step}" if ":" in step else "")
        _say(line)
    raise typer.Exit(0)


@secrets_app.command("history")
def history(
    name: Annotated[
        str | None, typer.Argument(help="The secret (default: all).", callback=params.text)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rotations to show.")] = 20,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Rotations, newest first, with their audit steps (fingerprints, never values)."""
    from safeship import core

    found = core.rotation_history(_load(config), name, limit)
    if json_output:
        print(json.dumps([r.as_json() for r in found], indent=2))
        raise typer.Exit(0)
    if not found:
        _say("no rotations yet")
    for r in found:
        head = (
            f"rotation {r.id}: {r.secret} ({r.kind}) {r.status}, started "
            f"{r.started_at:%Y-%m-%d %H:%M:%S} UTC by {r.triggered_by}"
        )
        if r.reason:
            head += f": {r.reason}"
        _say(head)
        for s in r.steps:
            line = f"  {s.environment} {s.step}: {s.status} by {s.actor}"
            if s.version is not None:
                line += f", version {s.version}"
            if s.fingerprint:
                line += f" ({s.fingerprint}"
                line += f", was {s.previous_fingerprint})" if s.previous_fingerprint else ")"
            if s.deployment_id:
                line += f", deployment {s.deployment_id[:8]}"
            if s.detail:
                line += f": {s.detail}"
            _say(line)
    raise typer.Exit(0)


@contextlib.contextmanager
def _interruptible(name: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM: the running deploy rolls back (its own handling), the rotation stays
    open, and `--resume` continues it (exit 130)."""
    from safeship.cli.live import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            yield
    except KeyboardInterrupt:
        _say(
            f"safeship: error: interrupted; `safeship secrets rotate {name} --resume` "
            "continues the rotation",
            error=True,
        )
        raise typer.Exit(130) from None


def _load(config: Path | None) -> LoadedConfig:
    from safeship.cli.common import load

    return load(config)


def _actor(loaded: LoadedConfig) -> str:
    """SAFESHIP_TOKEN's user (a deployer at least), else ``cli:<os user>``."""
    from safeship import core

    token = os.environ.get(core.TOKEN_VARIABLE)
    if token and token.strip():
        return core.identify(loaded, token, "deployer", "rotating a secret").name
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (some containers)
        return "cli"


def _read_value(name: str, environment: str) -> str:
    """The value: stdin's first line when stdin is not a terminal, else typed without echo."""
    if not sys.stdin.isatty():
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        value = getpass.getpass(f"new value of {name} ({environment}): ")
    from safeship.redaction import register_secret

    register_secret(value)
    if not value.strip():
        raise typer.BadParameter("an empty value is not a secret", param_hint="stdin")
    return value


def _notice(n: core.RotationNotice) -> None:
    line = f"rotation {n.rotation_id} {n.environment} {n.step}: {n.what}"
    _say(line + (f" ({n.detail})" if n.detail else ""))


def _ended(r: core.RotationResult) -> int:
    """The rotation's end as lines; the exit code (1: a step failed)."""
    where = ", ".join(r.environments)
    if r.status == "waiting":
        _say(
            f"rotation {r.id} of {r.secret} waits for a value: safeship secrets set {r.secret} "
            f"--environment {r.waiting_in}"
        )
    elif r.status == "grace":
        until = f"{r.grace_until:%Y-%m-%d %H:%M:%S} UTC" if r.grace_until else "now"
        _say(
            f"rotation {r.id} of {r.secret}: the new value runs ({where}); the previous one "
            f"stays valid until {until}: safeship secrets finish {r.secret}"
        )
    elif r.status == "finished":
        _say(f"rotation {r.id} of {r.secret} finished: the new value is current ({where})")
        for s in r.steps:
            if s.step == "finish" and s.detail:
                _say(f"  {s.environment}: {s.detail}")
    else:
        _say(f"rotation {r.id} of {r.secret} {r.status}: {r.reason or ''}".rstrip(": "))
    if not r.ok and r.status != "failed" and r.reason:
        _say(f"safeship: error: {r.reason}", error=True)
    return 0 if r.ok else 1


def _say(line: str, *, error: bool = False) -> None:
    """One plain line, redacted and printable."""
    from safeship.redaction import redact
    from safeship.validation import printable

    print(printable(redact(line)), file=sys.stderr if error else sys.stdout)
