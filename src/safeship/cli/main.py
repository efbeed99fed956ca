"""The `safeship` command: thin. Each command parses its arguments, calls the core, renders.

Heavy modules (pydantic, SQLAlchemy, httpx, aiohttp) are imported inside the commands so that
`safeship --help` starts fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from typer._click import Command

from safeship.cli import analytics_cmd, mark_cmd, metrics_cmd, params

# The console entry point (`safeship`, `python -m safeship`) is safeship.cli.entry.run: it runs
# the everyday read-only commands without importing Typer (safeship.cli.fast). Re-exported here.
from safeship.cli.entry import run as run
from safeship.cli.options import ConfigOption, JsonOption

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

EnvArgument = Annotated[
    str, typer.Argument(help="Environment name from safeship.toml.", callback=params.environment)
]


class LogFormat(StrEnum):
    live = "live"
    json = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="live: the progress view; json: the events as JSON lines on stdout (log shippers).",
    ),
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
    override_gates: Annotated[
        bool,
        typer.Option(
            "--override-gates",
            help="Let failed chain/freeze gates pass (an approver's SAFESHIP_TOKEN; --reason).",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why the gates are overridden.", callback=params.text),
    ] = None,
    log_format: LogFormatOption = LogFormat.live,
    config: ConfigOption = None,
) -> None:
    """Deploy VERSION to ENVIRONMENT: start, verify, shift traffic, roll back on failure."""
    from safeship import core
    from safeship.cli import deploy_cmd

    mode = core.deploy_mode(via_paths=via_paths, emergency=emergency)
    request = core.DeployRequest(environment, version, commit, triggered_by, mode)
    override = deploy_cmd.override_reason(override_gates, reason)
    raise typer.Exit(deploy_cmd.run(config, request, log_format.value, override))


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


app.command(name="metrics")(metrics_cmd.command)
app.command(name="analytics")(analytics_cmd.command)
app.command(name="mark")(mark_cmd.command)


@app.command()
def rollback(
    environment: EnvArgument,
    log_format: LogFormatOption = LogFormat.live,
    config: ConfigOption = None,
) -> None:
    """Put the previous good version back, or finish an interrupted deploy's rollback."""
    from safeship.cli import rollback_cmd

    raise typer.Exit(rollback_cmd.run(config, environment, log_format.value))


@app.command()
def logs(
    environment: Annotated[
        str | None, typer.Argument(help="Environment (default: all).", callback=params.environment)
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            help="One deployment: its id or a prefix (6+ hex digits).", callback=params.text
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="From this long ago (15m, 2h, 1d) or an ISO 8601 time.", callback=params.text
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="The newest N events.")] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C stops).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """The structured deployment log: one JSON object per event, oldest first."""
    from safeship import core
    from safeship.cli import logs_cmd

    query = core.LogQuery(environment, deployment, since, limit)
    raise typer.Exit(logs_cmd.run(config, query, follow=follow))


class ReportFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"


@app.command()
def report(
    deployment: Annotated[
        str, typer.Argument(help="Its id or a prefix (6+ hex digits).", callback=params.text)
    ],
    report_format: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            help="md (default), json, or html: the printable standalone page.",
        ),
    ] = ReportFormat.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write it to FILE (default: stdout).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """A deployment's report: summary, timeline, checks, canary figures, env changes, commits."""
    from safeship.cli import report_cmd

    raise typer.Exit(report_cmd.run(config, deployment, report_format.value, output))


@app.command()
def watch(
    environment: EnvArgument,
    interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between checks (default: [watch].interval)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Check once and exit.")] = False,
    duration: Annotated[
        str | None,
        typer.Option("--for", help="Stop after this long (30s, 15m, 2h).", callback=params.text),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check a serving environment on an interval: health, error rate and latency against the
    last good deployment; a condition that begins or clears is published as an event."""
    from safeship.cli import watch_cmd

    raise typer.Exit(watch_cmd.run(config, environment, interval, once=once, duration=duration))


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


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: [serve].host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (default: [serve].port, 8470)."),
    ] = None,
    jobs: Annotated[
        bool,
        typer.Option(
            "--jobs/--no-jobs", help="Run the background jobs (outbox, drift, watch) too."
        ),
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Serve the dashboard: overview, history, analytics, live deployments, a JSON API."""
    from safeship.cli import serve_cmd

    raise typer.Exit(serve_cmd.run(config, host, port, jobs))


# -- approval (the gates): the user is SAFESHIP_TOKEN's --

ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why (recorded).", callback=params.text)
]


@app.command()
def approve(
    deployment: Annotated[
        str, typer.Argument(help="Its id or a prefix (6+ hex digits).", callback=params.text)
    ],
    reason: ReasonOption = None,
    config: ConfigOption = None,
) -> None:
    """Approve a deployment awaiting approval, as SAFESHIP_TOKEN's user (an approver)."""
    from safeship.cli import approve_cmd

    raise typer.Exit(approve_cmd.run_answer(config, deployment, "approve", reason))


@app.command()
def reject(
    deployment: Annotated[
        str, typer.Argument(help="Its id or a prefix (6+ hex digits).", callback=params.text)
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (required, recorded).", callback=params.text)
    ],
    config: ConfigOption = None,
) -> None:
    """Reject a deployment awaiting approval (it ends aborted), as SAFESHIP_TOKEN's user."""
    from safeship.cli import approve_cmd

    raise typer.Exit(approve_cmd.run_answer(config, deployment, "reject", reason))


@app.command()
def approvals(
    environment: Annotated[
        str | None, typer.Argument(help="Environment (default: all).", callback=params.environment)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """What awaits approval, with what its gates found."""
    from safeship.cli import approve_cmd

    raise typer.Exit(approve_cmd.run_list(config, environment))


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
lazy_group("notify", "safeship.cli.notify_cmd:notify_app")
lazy_group("jobs", "safeship.cli.jobs_cmd:jobs_app")
lazy_group("user", "safeship.cli.user_cmd:user_app")
lazy_group("backup", "safeship.cli.backup_cmd:backup_app")
lazy_group("release", "safeship.cli.release_cmd:release_app")
lazy_group("freeze", "safeship.cli.freeze_cmd:freeze_app")
lazy_group("outage", "safeship.cli.outage_cmd:outage_app")
lazy_group("hosts", "safeship.cli.hosts_cmd:hosts_app")
lazy_group("secrets", "safeship.cli.secrets_cmd:secrets_app")


@app.command()
def drill(
    environment: Annotated[
        str | None,
        typer.Argument(
            help="Environment to drill (with --history: optional).", callback=params.environment
        ),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="List the drills (of ENV) instead, newest first.")
    ] = False,
    forward: Annotated[
        bool,
        typer.Option(
            "--forward/--no-forward",
            help="Deploy the serving version again after the rollback (its gates apply: "
            "approval waits); --no-forward only rolls back.",
        ),
    ] = True,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Drills listed.")] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="With --history: JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Rollback drill: roll ENV back to its previous good version and forward again, each leg
    verified and measured. Exit 1 when a leg failed."""
    from safeship.cli import drill_cmd

    if history:
        raise typer.Exit(drill_cmd.run_history(config, environment, limit, as_json=json_output))
    if environment is None:
        raise typer.BadParameter("name the environment to drill (or use --history)")
    raise typer.Exit(drill_cmd.run(config, environment, forward=forward))


@app.command()
def audit(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Entries to show.")] = 50,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """The audit trail: sign-ins, sign-outs, the dashboard's actions and refusals, newest first."""
    from safeship.cli import user_cmd

    raise typer.Exit(user_cmd.audit(limit, json_output, config))


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


def cli() -> Command:
    """The root command, its subcommands built lazily (what `safeship` runs)."""
    import copy

    from typer.main import get_group

    from safeship.cli.lazy import LazyCommands

    shell = copy.copy(app)  # the app's settings without its commands: they come lazily
    shell.registered_commands, shell.registered_groups = [], []
    root = get_group(shell)
    root.commands = LazyCommands(app, _LAZY_GROUPS)
    return root
