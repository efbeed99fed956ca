"""safeship env check | example | parity | diff | drift | snapshot | audit.

Only typer is imported at module level (``safeship --help`` imports this module); the core is
imported inside the commands. Output is plain lines, each through ``safeship.redaction``.
Exit codes: 0 valid / no difference, 1 invalid / differences / drift, 2 usage or schema error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from safeship.config import LoadedConfig
    from safeship.envschema.compare import SnapshotView
    from safeship.envschema.fingerprint import FingerprintKey
    from safeship.envschema.schema import EnvironmentSchema, Schema
    from safeship.envschema.sources import Variables
    from safeship.registry import EnvSnapshotRecord, Registry

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
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
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
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


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
    from safeship.envschema.validate import check

    env_schema = _schema(schema, config).environment(environment)
    files = env_file or ([] if from_process or from_target else _default_env_files(environment))
    if not (files or from_process or from_target):
        _usage(
            f"no variables to check: no .env or .env.{environment} here "
            "(use --env-file PATH, --from-process or --from-target)"
        )
    variables = _variables(environment, env_schema, config, files, from_process, from_target)
    result = check(env_schema, variables)
    if json_output:
        _print_json(result.as_json())
    else:
        for problem in result.errors:
            _print(f"error: {problem.text()} [{problem.code}]")
        for problem in result.warnings:
            _print(f"warning: {problem.text()} [{problem.code}]")
        verdict = "valid" if result.valid else "invalid"
        _print(
            f"{environment}: {verdict} ({len(env_schema.variables)} variables, "
            f"{_count(result.errors, 'error')}, {_count(result.warnings, 'warning')})"
        )
    raise typer.Exit(0 if result.valid else 1)


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
    from safeship.envschema.example import EXAMPLE_FILENAME, render_example, variables_of

    loaded_schema = _schema(schema, config)
    text = render_example(loaded_schema, environment)
    if output is not None and str(output) == "-":
        print(text, end="")
        raise typer.Exit(0)
    path = output or loaded_schema.path.parent / EXAMPLE_FILENAME
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _usage(f"{path}: cannot write: {exc.strerror or exc}")
    count = len(variables_of(loaded_schema, environment))
    _print(f"wrote {path} ({count} variables)")
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
    from safeship.envschema.example import EXAMPLE_FILENAME, parity

    loaded_schema = _schema(schema, config)
    path = file or loaded_schema.path.parent / EXAMPLE_FILENAME
    if not path.is_file():
        _print(f"{path}: not found (write it with `safeship env example`)")
        raise typer.Exit(1)
    report = parity(loaded_schema, path, environment)
    for problem in report.problems:
        kind = "warning" if problem.is_warning else "error"
        _print(f"{kind}: {problem.text()} [{problem.code}]")
    errors = [p for p in report.problems if not p.is_warning]
    verdict = "in parity with" if report.ok else f"differs from ({_count(errors, 'problem')})"
    _print(f"{path}: {verdict} {loaded_schema.path.name}")
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
    from safeship.envschema import compare

    loaded_schema = _optional_schema(schema, config)
    sides = []
    for name, files in ((env_a, file_a), (env_b, file_b)):
        env_schema = loaded_schema.environment(name) if loaded_schema else None
        variables = _variables(name, env_schema, config, files or [], False, not files)
        sides.append((name, variables.values, env_schema))
    key = _key(config, loaded_schema)
    differences = compare.diff(sides[0], sides[1], key)
    if json_output:
        _print_json({"a": env_a, "b": env_b, "differences": [d.as_json() for d in differences]})
    else:
        for difference in differences:
            _print(f"{difference.variable}: {difference.detail}")
        _print(f"{env_a} vs {env_b}: {_count(differences, 'difference')}")
    raise typer.Exit(1 if differences else 0)


@env_app.command("drift")
def drift_command(
    environment: EnvArgument,
    schema: SchemaOption = None,
    env_file: EnvFileOption = None,
    from_process: FromProcessOption = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Compare the live variables with the schema and with the last snapshot."""
    from safeship.envschema import compare
    from safeship.envschema.validate import check

    loaded_schema = _schema(schema, config)
    env_schema = loaded_schema.environment(environment)
    from_target = not (env_file or from_process)
    variables = _variables(
        environment, env_schema, config, env_file or [], from_process, from_target
    )
    result = check(env_schema, variables)
    against_schema = result.errors + [p for p in result.warnings if p.code == "unknown_variable"]
    key = _key(config, loaded_schema)
    current = compare.entries(variables.values, env_schema.variables, key)
    with _registry(config) as registry:
        last = registry.env_snapshots(environment, limit=1)
    since: list[compare.Change] = []
    note = None
    if last:
        snapshot = _view(last[0])
        now = compare.SnapshotView("", snapshot.taken_at, "", key.key_id, current)
        entry = compare.compare_snapshot(snapshot, now)
        since, note = entry.changes, entry.note
    drifted = bool(against_schema or since)
    if json_output:
        _print_json(
            {
                "environment": environment,
                "drift": drifted,
                "schema": [p.as_json() for p in against_schema],
                "snapshot": (
                    {
                        "taken_at": last[0].taken_at.isoformat(),
                        "taken_by": last[0].taken_by,
                        "changes": [c.as_json() for c in since],
                        "note": note,
                    }
                    if last
                    else None
                ),
            }
        )
        raise typer.Exit(1 if drifted else 0)
    _print(f"{environment} vs the schema: {_count(against_schema, 'difference')}")
    for problem in against_schema:
        _print(f"  {problem.text()} [{problem.code}]")
    if not last:
        _print(f"{environment} vs the last snapshot: no snapshot yet (safeship env snapshot)")
    else:
        when = _when(last[0].taken_at)
        _print(
            f"{environment} vs the snapshot of {when} by {last[0].taken_by}: "
            f"{_count(since, 'change')}"
        )
        for change in since:
            _print(f"  {change.kind} {change.variable}: {change.detail}")
        if note:
            _print(f"  note: {note}")
    raise typer.Exit(1 if drifted else 0)


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
    from safeship.envschema import compare

    loaded_schema = _optional_schema(schema, config)
    env_schema = loaded_schema.environment(environment) if loaded_schema else None
    from_target = not (env_file or from_process)
    variables = _variables(
        environment, env_schema, config, env_file or [], from_process, from_target
    )
    key = _key(config, loaded_schema)
    specs = env_schema.variables if env_schema else {}
    stored = compare.entries(variables.values, specs, key)
    with _registry(config) as registry:
        snapshot_id = registry.add_env_snapshot(
            environment, stored, taken_by or _user(), fingerprint_key_id=key.key_id
        )
    secrets = sum(1 for entry in stored.values() if entry["secret"])
    _print(
        f"{environment}: snapshot {snapshot_id[:8]} recorded "
        f"({len(stored)} variables, {secrets} as fingerprints only)"
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
    from safeship.envschema import compare

    with _registry(config) as registry:
        records = registry.env_snapshots(environment, limit=limit)
    entries = compare.audit([_view(r) for r in reversed(records)])
    if json_output:
        _print_json(
            [
                {
                    "snapshot": e.snapshot.id,
                    "taken_at": e.snapshot.taken_at.isoformat(),
                    "taken_by": e.snapshot.taken_by,
                    "first": e.first,
                    "variables": len(e.snapshot.variables),
                    "changes": [c.as_json() for c in e.changes],
                    "note": e.note,
                }
                for e in entries
            ]
        )
        raise typer.Exit(0)
    if not entries:
        _print(f"{environment}: no snapshots (record one with `safeship env snapshot`)")
    for entry in entries:
        head = f"{_when(entry.snapshot.taken_at)} by {entry.snapshot.taken_by}"
        if entry.first:
            _print(f"{head}: first snapshot ({len(entry.snapshot.variables)} variables)")
            continue
        _print(f"{head}: {_count(entry.changes, 'change')}")
        for change in entry.changes:
            _print(f"  {change.kind} {change.variable}: {change.detail}")
        if entry.note:
            _print(f"  note: {entry.note}")
    raise typer.Exit(0)


# -- helpers -------------------------------------------------------------------------------


def _print(line: str) -> None:
    from safeship.redaction import redact

    print(redact(line), flush=False)


def _print_json(data: Any) -> None:
    import json

    from safeship.redaction import redact_data

    print(json.dumps(redact_data(data), indent=2, ensure_ascii=False))


def _usage(message: str) -> NoReturn:
    from safeship.envschema.problems import EnvSourceError

    raise EnvSourceError([message])


def _count(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _config(config: Path | None, *, required: bool) -> LoadedConfig | None:
    """safeship.toml: the given one, else ./safeship.toml if there is one (or an error)."""
    from safeship.config import find_config, load_config
    from safeship.config.loader import CONFIG_FILENAME

    if config is None and not required and not (Path.cwd() / CONFIG_FILENAME).is_file():
        return None
    return load_config(find_config(config))


def _schema_path(schema: Path | None, config: Path | None) -> tuple[Path, bool]:
    """The schema's path, and whether the user named it (else it is the default)."""
    from safeship.envschema.schema import SCHEMA_FILENAME

    if schema is not None:
        return schema, True
    loaded = _config(config, required=config is not None)
    if loaded is not None:
        return loaded.base_dir / loaded.config.project.env_schema, False
    return Path(SCHEMA_FILENAME), False


def _schema(schema: Path | None, config: Path | None) -> Schema:
    from safeship.envschema.schema import load_schema

    return load_schema(_schema_path(schema, config)[0])


def _optional_schema(schema: Path | None, config: Path | None) -> Schema | None:
    """The schema, or None when no --schema was given and the default file does not exist."""
    from safeship.envschema.schema import load_schema

    path, named = _schema_path(schema, config)
    if not named and not path.is_file():
        return None
    return load_schema(path)


def _default_env_files(environment: str) -> list[Path]:
    return [p for p in (Path(".env"), Path(f".env.{environment}")) if p.is_file()]


def _variables(
    environment: str,
    env_schema: EnvironmentSchema | None,
    config: Path | None,
    env_files: list[Path],
    from_process: bool,
    from_target: bool,
) -> Variables:
    import os

    from safeship.envschema.sources import collect
    from safeship.redaction import register_secret

    if from_process and env_schema is None:
        _usage("--from-process needs the schema: it names the variables to take from the process")
    target: dict[str, str] | None = None
    locate = None
    if from_target:
        target, locate = _target_variables(config, environment)
    variables = collect(
        env_files=env_files,
        target=target,
        target_location=locate,
        process=os.environ if from_process else None,
        names=env_schema.variables.keys() if env_schema else (),
    )
    # Defence in depth: whatever is printed later goes through the redaction, which now knows
    # these values even if some message were to quote one.
    for name in env_schema.secret_names if env_schema else ():
        register_secret(variables.values.get(name))
    return variables


def _target_variables(
    config: Path | None, environment: str
) -> tuple[dict[str, str], Callable[[str], str | None]]:
    """The variables the environment's target gives a release, and where each comes from."""
    from safeship._toml import KeyIndex
    from safeship.envschema.sources import target_source
    from safeship.pipeline.environment import open_environment

    loaded = _config(config, required=True)
    assert loaded is not None
    variables = open_environment(loaded, environment).target.variables()
    settings = loaded.config.environments[environment].target
    platform = target_source(settings.type, environment)
    if settings.type != "local":
        # Railway's API, a command target's variables script, a plugin: not a line of the file.
        return variables, lambda name: platform
    # The local target gives a release exactly its `env` table: each name is a line of it
    # (the table's own line for an inline table).
    index = KeyIndex(loaded.path.read_text(encoding="utf-8"))

    def locate(name: str) -> str | None:
        line = index.line(("environments", environment, "target", "env", name))
        return f"{loaded.path.name}:{line}" if line else platform

    return variables, locate


def _key(config: Path | None, schema: Schema | None) -> FingerprintKey:
    """The project's fingerprint key, kept in .safeship/ beside safeship.toml (or the schema)."""
    from safeship.envschema.fingerprint import load_key

    loaded = _config(config, required=False)
    if loaded is not None:
        return load_key(loaded.state_dir)
    base = schema.path.parent if schema is not None else Path.cwd()
    return load_key(base / ".safeship")


def _registry(config: Path | None) -> Registry:
    from safeship.registry import Registry

    loaded = _config(config, required=True)
    assert loaded is not None
    return Registry(loaded.registry_url())


def _view(record: EnvSnapshotRecord) -> SnapshotView:
    from safeship.envschema.compare import SnapshotView

    return SnapshotView(
        record.id, record.taken_at, record.taken_by, record.fingerprint_key_id, record.variables
    )
