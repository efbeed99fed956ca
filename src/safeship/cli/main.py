"""The `safeship` command: thin. Each command parses its arguments, calls the core, renders.

Heavy modules (pydantic, SQLAlchemy, httpx, aiohttp) are imported inside the commands so that
`safeship --help` starts fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from typer.models import TyperInfo

if TYPE_CHECKING:
    from typer._click import Command
    from typer.core import MarkupMode

from safeship.cli import params

app = typer.Typer(
    name="safeship",
    help="Ship web services safely: deploy, verify, canary, automatic rollback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect safeship.toml.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
]
EnvArgument = Annotated[
    str, typer.Argument(help="Environment name from safeship.toml.", callback=params.environment)
]


@app.command()
def deploy(
    environment: EnvArgument,
    version: Annotated[
        str, typer.Option("--version", "-V", help="Version to deploy.", callback=params.version)
    ],
    commit: Annotated[
        str | None, typer.Option(help="Commit SHA of the version.", callback=params.commit)
    ] = None,
    triggered_by: Annotated[
        str, typer.Option(help="Who or what started it.", callback=params.triggered_by)
    ] = "cli",
    via_paths: Annotated[
        bool,
        typer.Option(
            "--via-paths",
            help="Deploy through [paths].order in safeship.toml, failing over to the next path.",
        ),
    ] = False,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Deploy from this machine, skipping CI (never the checks or the rollback).",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Deploy VERSION to ENVIRONMENT: start, verify, shift traffic, roll back on failure."""
    from safeship.cli import deploy_cmd

    mode = deploy_cmd.mode_for(via_paths=via_paths, emergency=emergency)
    raise typer.Exit(deploy_cmd.run(config, environment, version, commit, triggered_by, mode))


@app.command()
def status(
    environment: Annotated[
        str | None, typer.Argument(help="Environment (default: all).", callback=params.environment)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Releases running, traffic weights and live stats."""
    from safeship.cli import status_cmd

    raise typer.Exit(status_cmd.run(config, environment))


@app.command()
def history(
    environment: Annotated[
        str | None, typer.Argument(help="Environment (default: all).", callback=params.environment)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Deployment history, newest first."""
    from safeship.cli import history_cmd

    raise typer.Exit(history_cmd.run(config, environment, limit, json_output))


@app.command()
def rollback(environment: EnvArgument, config: ConfigOption = None) -> None:
    """Put the previous good version back, or finish an interrupted deploy's rollback."""
    from safeship.cli import rollback_cmd

    raise typer.Exit(rollback_cmd.run(config, environment))


@app.command()
def recover(environment: EnvArgument, config: ConfigOption = None) -> None:
    """Close deployments left open by a safeship that died; route traffic back to stable."""
    from safeship.cli import rollback_cmd

    raise typer.Exit(rollback_cmd.run_recover(config, environment))


@app.command()
def promote(environment: EnvArgument, config: ConfigOption = None) -> None:
    """Let a deployment paused at a step (pause_at) go on."""
    from safeship.cli import pause_cmd

    raise typer.Exit(pause_cmd.run(config, environment, "promote"))


@app.command()
def abort(environment: EnvArgument, config: ConfigOption = None) -> None:
    """Roll back a deployment paused at a step (pause_at)."""
    from safeship.cli import pause_cmd

    raise typer.Exit(pause_cmd.run(config, environment, "abort"))


@app.command()
def up(environment: EnvArgument, config: ConfigOption = None) -> None:
    """Start the environment's router (it outlives this command)."""
    from safeship.cli import updown_cmd

    raise typer.Exit(updown_cmd.run_up(config, environment))


@app.command()
def down(environment: EnvArgument, config: ConfigOption = None) -> None:
    """Stop the environment's router and releases."""
    from safeship.cli import updown_cmd

    raise typer.Exit(updown_cmd.run_down(config, environment))


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option(help="Keep the demo's working directory (registry, logs).")
    ] = False,
) -> None:
    """Deploy the bundled demo service three times under load: canary, promotion, auto-rollback."""
    from safeship.cli import demo_cmd

    raise typer.Exit(demo_cmd.run(keep))


# -- command groups added by later features register here --
# lazy_group(NAME, "module:attribute"): the module (a typer.Typer at that attribute) is imported
# only when NAME runs or --help lists it.

_LAZY_GROUPS: dict[str, str] = {}


def lazy_group(name: str, target: str) -> None:
    """Register the command group NAME, a typer.Typer at ``module:attribute``, imported lazily."""
    _LAZY_GROUPS[name] = target


lazy_group("env", "safeship.cli.env_cmd:env_app")
lazy_group("paths", "safeship.cli.paths_cmd:paths_app")
lazy_group("hooks", "safeship.cli.hooks_cmd:hooks_app")


@app.command()
def prepush(
    all_files: Annotated[
        bool, typer.Option("--all", help="Check every file, not the push.")
    ] = False,
    staged: Annotated[
        bool, typer.Option("--staged", help="Check the staged lines (the pre-commit hook).")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check (repeatable).", callback=params.texts),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    stdin_refs: Annotated[
        bool,
        typer.Option(
            "--stdin-refs", help="Read the pushed refs from stdin, as git gives a pre-push hook."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """The pre-push gate: secrets, env, affected tests, build, API contract, deploy impact."""
    from safeship.cli import prepush_cmd

    raise typer.Exit(
        prepush_cmd.run(config, all_files, staged, only or [], json_output, stdin_refs)
    )


# Health verification on its own (levels 1-4); exit 0 healthy, 1 unhealthy, 2 usage error.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Exit 1 when degraded too.")]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Base URL to check instead of the environment's port.", callback=params.url
    ),
]


@app.command()
def health(
    url: Annotated[
        str,
        typer.Argument(
            help="The service's base URL, e.g. http://127.0.0.1:8080.", callback=params.url
        ),
    ],
    deep: Annotated[bool, typer.Option("--deep", help="Also judge the deep endpoint.")] = False,
    path: Annotated[str, typer.Option(help="Basic health path.")] = "/api/health",
    deep_path: Annotated[str, typer.Option(help="Deep health path.")] = "/api/health/deep",
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 5.0,
    strict: StrictOption = False,
    json_output: JsonOption = False,
) -> None:
    """Check a running service's health endpoint (and its deep endpoint); no config needed."""
    from safeship.cli import health_cmd

    raise typer.Exit(
        health_cmd.run_health(url, deep, path, deep_path, timeout, strict, json_output)
    )


@app.command()
def smoke(
    environment: Annotated[
        str | None,
        typer.Argument(help="Environment (its smoke flows).", callback=params.environment),
    ] = None,
    url: UrlOption = None,
    strict: StrictOption = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run an environment's smoke flows against its port (or --url)."""
    from safeship.cli import health_cmd

    raise typer.Exit(health_cmd.run_smoke(config, environment, url, strict, json_output))


@app.command()
def baseline(
    environment: Annotated[
        str | None,
        typer.Argument(help="Environment to compare with.", callback=params.environment),
    ] = None,
    url: UrlOption = None,
    path: Annotated[str | None, typer.Option(help="Path to sample.", callback=params.text)] = None,
    requests: Annotated[int | None, typer.Option(help="Requests to send.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests at a time.")] = None,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Sample latency and errors; compare with the last successful deployment's baseline."""
    from safeship.cli import health_cmd

    overrides = {"path": path, "requests": requests, "concurrency": concurrency}
    raise typer.Exit(health_cmd.run_baseline(config, environment, url, overrides, json_output))


@app.command()
def doctor(json_output: JsonOption = False, config: ConfigOption = None) -> None:
    """Check what a deploy needs (config, registry, router, ports, tokens, file permissions)."""
    from safeship.cli import doctor_cmd

    raise typer.Exit(doctor_cmd.run(config, json_output))


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The project's directory.")] = Path("."),
) -> None:
    """Write a commented safeship.toml (and env.schema.toml) for the project; never overwrites."""
    from safeship.cli import init_cmd

    raise typer.Exit(init_cmd.run(directory))


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate safeship.toml without deploying."""
    from safeship.cli import config_cmd

    raise typer.Exit(config_cmd.run_check(config))


def _fail(message: str, code: int) -> NoReturn:
    from safeship.redaction import redact

    for line in redact(message).splitlines() or [""]:
        print(f"safeship: error: {line}", file=sys.stderr)
    raise SystemExit(code)


class _LazyCommands(MutableMapping[str, "Command"]):
    """The root group's commands, each built (and its group's module imported) on first use.

    Typer builds every command of an app before running one (evaluating every parameter's
    annotations); this mapping builds only the one that runs (--help builds them all). Its keys
    keep the order of registration: commands, then groups, then lazy groups.
    """

    def __init__(self, typer_app: typer.Typer) -> None:
        from functools import partial

        from typer.main import get_command_from_info, get_command_name

        short = typer_app.pretty_exceptions_short
        markup = typer_app.rich_markup_mode
        suggest = typer_app.suggest_commands
        self._built: dict[str, Command] = {}
        self._make: dict[str, Callable[[], Command]] = {}
        for info in typer_app.registered_commands:
            assert info.callback is not None
            name = info.name or get_command_name(info.callback.__name__)
            self._make[name] = partial(
                get_command_from_info, info, pretty_exceptions_short=short, rich_markup_mode=markup
            )
        groups: list[tuple[str | None, TyperInfo | Callable[[], TyperInfo]]] = [
            (group.name, group) for group in typer_app.registered_groups
        ]
        groups += [(n, partial(_lazy_typer_info, n, target)) for n, target in _LAZY_GROUPS.items()]
        for group_name, group in groups:
            assert group_name, "name every group: app.add_typer(..., name=...)"
            self._make[group_name] = partial(
                _group_command,
                group,
                pretty_exceptions_short=short,
                rich_markup_mode=markup,
                suggest_commands=suggest,
            )

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built[name] = self._make[name]()
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command
        self._make.setdefault(name, lambda: command)

    def __delitem__(self, name: str) -> None:
        del self._make[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._make)

    def __len__(self) -> int:
        return len(self._make)


def _lazy_typer_info(name: str, target: str) -> TyperInfo:
    import importlib

    module, _, attribute = target.partition(":")
    sub_app: typer.Typer = getattr(importlib.import_module(module), attribute)
    return TyperInfo(sub_app, name=name)


def _group_command(
    group: TyperInfo | Callable[[], TyperInfo],
    *,
    pretty_exceptions_short: bool,
    rich_markup_mode: MarkupMode,
    suggest_commands: bool,
) -> Command:
    from typer.main import get_group_from_info

    return get_group_from_info(
        group if isinstance(group, TyperInfo) else group(),
        pretty_exceptions_short=pretty_exceptions_short,
        rich_markup_mode=rich_markup_mode,
        suggest_commands=suggest_commands,
    )


def cli() -> Command:
    """The root command, its subcommands built lazily (what `safeship` runs)."""
    import copy

    from typer.main import get_group

    shell = copy.copy(app)  # the app's settings without its commands: they come lazily
    shell.registered_commands, shell.registered_groups = [], []
    root = get_group(shell)
    root.commands = _LazyCommands(app)
    return root


def run() -> None:
    """Console entry point: known errors become one line and an exit code, never a traceback."""
    from safeship.cli.errors import exit_code_for

    try:
        cli()()
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("SAFESHIP_DEBUG"):
            raise
        code, message = exit_code_for(exc)
        _fail(message, code)
