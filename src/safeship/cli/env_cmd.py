"""safeship env check | example | parity | diff | drift | snapshot | audit.

Only typer is imported at module level (``safeship --help`` imports this module); the core (which
decides where variables come from, the fingerprint key, what drift is) is imported inside the
commands. Output is plain lines, each through ``safeship.redaction``.
Exit codes: 0 valid / no difference, 1 invalid / differences / drift, 2 usage or schema error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from safeship.cli.env_common import emit, emit_json, env_project, env_sources, plural
from safeship.cli.options import ConfigOption, JsonOption

if TYPE_CHECKING:
    from datetime import datetime

    from safeship.core import EnvProject, EnvSources


env_app = typer.Typer(
    help="Environment variables as code: check, .env.example, diff, drift, snapshots, audit.",
    no_args_is_help=True,
)

EnvArgument = Annotated[str, typer.Argument(help="Environment (a table of env.schema.toml).")]
SchemaOption = Annotated[
    Path | None,
    typer.Option(
        "--schema",
        help="Path to env.schema.toml (default: project.env_schema of safeship.toml, "
        "else ./env.schema.toml).",
    ),
]
EnvFileOption = Annotated[
    list[Path] | None,
    typer.Option("--env-file", help=".env file to read (repeatable; later files win)."),
]
FromProcessOption = Annotated[
    bool, typer.Option("--from-process", help="Read the variables of this process's environment.")
]
FromTargetOption = Annotated[
    bool,
    typer.Option("--from-target", help="Read the target's live variables (needs safeship.toml)."),
]


# -- commands -----------------------------------------------------------------------------


@env_app.command("check")
def check_command(
    environment: EnvArgument,
    schema: SchemaOption = None,
    env_file: EnvFileOption = None,
    from_process: FromProcessOption = False,
    from_target: FromTargetOption = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Validate ENVIRONMENT's variables against the schema; report every problem at once.

    Without a source option it reads .env and .env.ENVIRONMENT in the current directory.
    """
    from safeship.cli.env_common import run_check

    code = run_check(environment, schema, env_file, from_process, from_target, json_output, config)
    raise typer.Exit(code)


@env_app.command("example")
def example_command(
    schema: SchemaOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write (default: .env.example beside the schema; - for stdout).",
        ),
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="Only this environment's variables.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write .env.example from the schema: descriptions as comments, defaults, secrets blank."""
    from safeship import core
    from safeship.envschema.example import EXAMPLE_FILENAME, render_example, variables_of

    loaded_schema = core.load_schema(env_project(schema, config))
    text = render_example(loaded_schema, environment)
    if output is not None and str(output) == "-":
        print(text, end="")
        raise typer.Exit(0)
    path = output or loaded_schema.path.parent / EXAMPLE_FILENAME
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        from safeship.envschema.problems import EnvSourceError

        raise EnvSourceError([f"{path}: cannot write: {exc.strerror or exc}"]) from None
    count = len(variables_of(loaded_schema, environment))
    emit(f"wrote {path} ({count} variables)")
    raise typer.Exit(0)


@env_app.command("parity")
def parity_command(
    schema: SchemaOption = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="The example file (default: .env.example beside the schema)."),
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="Only this environment's variables.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Fail when .env.example and the schema disagree: missing, extra or renamed keys."""
    from safeship import core
    from safeship.envschema.example import EXAMPLE_FILENAME, parity

    loaded_schema = core.load_schema(env_project(schema, config))
    path = file or loaded_schema.path.parent / EXAMPLE_FILENAME
    if not path.is_file():
        emit(f"{path}: not found (write it with `safeship env example`)")
        raise typer.Exit(1)
    report = parity(loaded_schema, path, environment)
    for problem in report.problems:
        kind = "warning" if problem.is_warning else "error"
        emit(f"{kind}: {problem.text()} [{problem.code}]")
    errors = [p for p in report.problems if not p.is_warning]
    verdict = "in parity with" if report.ok else f"differs from ({plural(errors, 'problem')})"
    emit(f"{path}: {verdict} {loaded_schema.path.name}")
    raise typer.Exit(0 if report.ok else 1)


@env_app.command("diff")
def diff_command(
    env_a: Annotated[str, typer.Argument(help="First environment.")],
    env_b: Annotated[str, typer.Argument(help="Second environment.")],
    file_a: Annotated[
        list[Path] | None,
        typer.Option("--file-a", help="Read ENV_A from this .env file instead of its target."),
    ] = None,
    file_b: Annotated[
        list[Path] | None,
        typer.Option("--file-b", help="Read ENV_B from this .env file instead of its target."),
    ] = None,
    schema: SchemaOption = None,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Compare two environments' live variables key by key (secrets by fingerprint, masked)."""
    from safeship import core

    result = core.env_diff(
        env_project(schema, config), (env_a, file_a or []), (env_b, file_b or [])
    )
    if json_output:
        emit_json(result.as_json())
    else:
        for difference in result.differences:
            emit(f"{difference.variable}: {difference.detail}")
        emit(f"{env_a} vs {env_b}: {plural(result.differences, 'difference')}")
    raise typer.Exit(1 if result.differences else 0)


@env_app.command("drift")
def drift_command(
    environment: EnvArgument,
    schema: SchemaOption = None,
    env_file: EnvFileOption = None,
    from_process: FromProcessOption = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
    pull_request: Annotated[
        bool,
        typer.Option(
            "--pr",
            help="Open a GitHub pull request that brings .env.example and the schema in line "
            "with the live variables (names and non-secret defaults only; needs [github]).",
        ),
    ] = False,
) -> None:
    """Compare the live variables with the schema and with the last snapshot."""
    from safeship import core

    sources = env_sources(env_file, from_process, False)
    if pull_request:
        _open_drift_pr(env_project(schema, config), environment, sources, json_output)
    drift = core.env_drift(env_project(schema, config), environment, sources)
    if json_output:
        emit_json(drift.as_json())
        raise typer.Exit(1 if drift.drifted else 0)
    emit(f"{environment} vs the schema: {plural(drift.against_schema, 'difference')}")
    for problem in drift.against_schema:
        emit(f"  {problem.text()} [{problem.code}]")
    if drift.snapshot is None:
        emit(f"{environment} vs the last snapshot: no snapshot yet (safeship env snapshot)")
    else:
        emit(
            f"{environment} vs the snapshot of {_when(drift.snapshot.taken_at)} by "
            f"{drift.snapshot.taken_by}: {plural(drift.since_snapshot, 'change')}"
        )
        for change in drift.since_snapshot:
            emit(f"  {change.kind} {change.variable}: {change.detail}")
        if drift.note:
            emit(f"  note: {drift.note}")
    raise typer.Exit(1 if drift.drifted else 0)


@env_app.command("snapshot")
def snapshot_command(
    environment: EnvArgument,
    schema: SchemaOption = None,
    env_file: EnvFileOption = None,
    from_process: FromProcessOption = False,
    taken_by: Annotated[
        str | None, typer.Option("--by", help="Who records it (default: the user name).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Record the environment's variables in the registry (secrets as fingerprints only)."""
    from safeship import core

    sources = env_sources(env_file, from_process, False)
    taken = core.env_snapshot(env_project(schema, config), environment, sources, taken_by)
    emit(
        f"{environment}: snapshot {taken.snapshot_id[:8]} recorded "
        f"({taken.variables} variables, {taken.secrets} as fingerprints only)"
    )
    raise typer.Exit(0)


@env_app.command("audit")
def audit_command(
    environment: EnvArgument,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Snapshots to look at.")] = 50,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List what changed between the environment's snapshots: added, removed, changed; who, when."""
    from safeship import core

    audit = core.env_audit(env_project(None, config), environment, limit)
    if json_output:
        emit_json(audit.as_json())
        raise typer.Exit(0)
    if not audit.entries:
        emit(f"{environment}: no snapshots (record one with `safeship env snapshot`)")
    for entry in audit.entries:
        head = f"{_when(entry.snapshot.taken_at)} by {entry.snapshot.taken_by}"
        if entry.first:
            emit(f"{head}: first snapshot ({len(entry.snapshot.variables)} variables)")
            continue
        emit(f"{head}: {plural(entry.changes, 'change')}")
        for change in entry.changes:
            emit(f"  {change.kind} {change.variable}: {change.detail}")
        if entry.note:
            emit(f"  note: {entry.note}")
    raise typer.Exit(0)


# -- helpers -------------------------------------------------------------------------------


def _open_drift_pr(
    project: EnvProject, environment: str, sources: EnvSources, json_output: bool
) -> NoReturn:
    """`env drift --pr`: 0 when a pull request is open (or nothing needs one)."""
    from safeship import core

    opened = core.env_drift_pr(project, environment, sources)
    if json_output:
        emit_json(opened.as_json())
        raise typer.Exit(0)
    for change in opened.changes:
        emit(f"  {change.kind} {change.variable}: {change.detail}")
    if opened.url is None:
        emit(f"{environment}: the schema and .env.example match the platform: no pull request")
    elif opened.already_open:
        emit(f"{environment}: pull request #{opened.number} is already open: {opened.url}")
    else:
        emit(f"{environment}: opened pull request #{opened.number}: {opened.url}")
    raise typer.Exit(0)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
