"""Environment variables as code: check, diff, drift, snapshot, audit.

The decisions the env commands share live here: which safeship.toml and schema (the named
ones, else the defaults beside the working directory), where the variables are read from (.env
files, this process, the target), the project's fingerprint key, and what counts as drift.
Every secret value read is registered with the redaction before anything is returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.envschema.compare import AuditEntry, Change, Difference, SnapshotView
    from safeship.envschema.drift_pr import DriftPullRequest
    from safeship.envschema.fingerprint import FingerprintKey
    from safeship.envschema.problems import Problem
    from safeship.envschema.schema import EnvironmentSchema, Schema
    from safeship.envschema.sources import Variables
    from safeship.envschema.validate import CheckResult
    from safeship.registry import EnvSnapshotRecord, Registry


@dataclass(frozen=True)
class EnvProject:
    """Where the env commands look: the schema and safeship.toml named (None: the defaults)."""

    schema: Path | None = None
    config: Path | None = None


@dataclass(frozen=True)
class EnvSources:
    """Where the variables are read: .env files (later win), this process, the target."""

    env_files: tuple[Path, ...] = ()
    from_process: bool = False
    from_target: bool = False

    @property
    def named(self) -> bool:
        return bool(self.env_files or self.from_process or self.from_target)


@dataclass(frozen=True)
class EnvCheckReport:
    environment: str
    variables: int  # how many the schema declares
    result: CheckResult

    @property
    def valid(self) -> bool:
        return self.result.valid


@dataclass(frozen=True)
class EnvDiff:
    a: str
    b: str
    differences: list[Difference]

    def as_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "differences": [d.as_json() for d in self.differences]}


@dataclass(frozen=True)
class SnapshotRef:
    taken_at: datetime
    taken_by: str


@dataclass(frozen=True)
class EnvDrift:
    environment: str
    against_schema: list[Problem]
    snapshot: SnapshotRef | None  # the last snapshot; None: none recorded yet
    since_snapshot: list[Change] = field(default_factory=list)
    note: str | None = None  # e.g. the fingerprint key changed since the snapshot

    @property
    def drifted(self) -> bool:
        return bool(self.against_schema or self.since_snapshot)

    def as_json(self) -> dict[str, Any]:
        snapshot = None
        if self.snapshot is not None:
            snapshot = {
                "taken_at": self.snapshot.taken_at.isoformat(),
                "taken_by": self.snapshot.taken_by,
                "changes": [c.as_json() for c in self.since_snapshot],
                "note": self.note,
            }
        return {
            "environment": self.environment,
            "drift": self.drifted,
            "schema": [p.as_json() for p in self.against_schema],
            "snapshot": snapshot,
        }


@dataclass(frozen=True)
class EnvSnapshotTaken:
    environment: str
    snapshot_id: str
    variables: int
    secrets: int  # stored as fingerprints only


@dataclass(frozen=True)
class EnvAudit:
    environment: str
    entries: list[AuditEntry]  # oldest first

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "snapshot": e.snapshot.id,
                "taken_at": e.snapshot.taken_at.isoformat(),
                "taken_by": e.snapshot.taken_by,
                "first": e.first,
                "variables": len(e.snapshot.variables),
                "changes": [c.as_json() for c in e.changes],
                "note": e.note,
            }
            for e in self.entries
        ]


# -- operations ----------------------------------------------------------------------------


def env_check(project: EnvProject, environment: str, sources: EnvSources) -> EnvCheckReport:
    """Validate ``environment``'s variables against the schema; every problem at once.

    Without a source named, .env and .env.ENVIRONMENT in the working directory are read.
    """
    from safeship.envschema.validate import check

    env_schema = load_schema(project).environment(environment)
    if not sources.named:
        sources = EnvSources(env_files=tuple(_default_env_files(environment)))
        if not sources.env_files:
            _usage(
                f"no variables to check: no .env or .env.{environment} here "
                "(use --env-file PATH, --from-process or --from-target)"
            )
    variables = _variables(project, environment, env_schema, sources)
    return EnvCheckReport(environment, len(env_schema.variables), check(env_schema, variables))


def env_diff(
    project: EnvProject,
    a: tuple[str, list[Path]],
    b: tuple[str, list[Path]],
) -> EnvDiff:
    """Two environments' variables key by key (secrets by fingerprint); each side from its
    .env files when given, else from its target."""
    from safeship.envschema import compare

    schema = optional_schema(project)
    sides = []
    for name, files in (a, b):
        env_schema = schema.environment(name) if schema else None
        sources = EnvSources(tuple(files), from_target=not files)
        variables = _variables(project, name, env_schema, sources)
        sides.append((name, variables.values, env_schema))
    differences = compare.diff(sides[0], sides[1], _key(project, schema))
    return EnvDiff(a[0], b[0], differences)


def env_drift(project: EnvProject, environment: str, sources: EnvSources) -> EnvDrift:
    """The live variables (the target's unless a source is named) against the schema and
    against the last snapshot."""
    from safeship.envschema import compare
    from safeship.envschema.validate import check

    schema = load_schema(project)
    env_schema = schema.environment(environment)
    variables = _variables(project, environment, env_schema, _live(sources))
    result = check(env_schema, variables)
    against_schema = result.errors + [p for p in result.warnings if p.code == "unknown_variable"]
    key = _key(project, schema)
    current = compare.entries(variables.values, env_schema.variables, key)
    with _registry(project) as registry:
        last = registry.env_snapshots(environment, limit=1)
    if not last:
        return EnvDrift(environment, against_schema, None)
    snapshot = _view(last[0])
    now = compare.SnapshotView("", snapshot.taken_at, "", key.key_id, current)
    entry = compare.compare_snapshot(snapshot, now)
    ref = SnapshotRef(last[0].taken_at, last[0].taken_by)
    return EnvDrift(environment, against_schema, ref, entry.changes, entry.note)


def env_drift_pr(project: EnvProject, environment: str, sources: EnvSources) -> DriftPullRequest:
    """Open a pull request that brings the schema and .env.example (as the repository's default
    branch has them) in line with the live variables (the target's unless a source is named):
    names and non-secret defaults only. Needs ``[github]`` in safeship.toml and its token."""
    import os

    from safeship.envschema.drift_pr import open_drift_pull_request, repository_files

    loaded = _config(project, required=True)
    assert loaded is not None
    settings = loaded.config.github
    if settings is None:
        _usage(f"{loaded.path.name}: env drift --pr needs a [github] table (repo, token_env)")
    token = os.environ.get(settings.token_env, "").strip()
    if not token:
        _usage(f"env drift --pr: {settings.token_env} is not set (the [github] token)")
    schema = optional_schema(project)
    env_schema = schema.environment(environment) if schema else None
    variables = _variables(project, environment, env_schema, _live(sources))
    files = repository_files(_schema_path(project)[0])
    return open_drift_pull_request(settings, token, environment, files, variables.values)


def env_snapshot(
    project: EnvProject, environment: str, sources: EnvSources, taken_by: str | None = None
) -> EnvSnapshotTaken:
    """Record the variables (the target's unless a source is named) in the registry, secrets
    as fingerprints only; ``taken_by`` defaults to the user name."""
    from safeship.envschema import compare

    schema = optional_schema(project)
    env_schema = schema.environment(environment) if schema else None
    variables = _variables(project, environment, env_schema, _live(sources))
    key = _key(project, schema)
    stored = compare.entries(variables.values, env_schema.variables if env_schema else {}, key)
    with _registry(project) as registry:
        snapshot_id = registry.add_env_snapshot(
            environment, stored, taken_by or _user(), fingerprint_key_id=key.key_id
        )
    secrets = sum(1 for entry in stored.values() if entry["secret"])
    return EnvSnapshotTaken(environment, snapshot_id, len(stored), secrets)


def env_audit(project: EnvProject, environment: str, limit: int = 50) -> EnvAudit:
    """What changed between the environment's last ``limit`` snapshots, oldest first."""
    from safeship.envschema import compare

    with _registry(project) as registry:
        records = registry.env_snapshots(environment, limit=limit)
    return EnvAudit(environment, compare.audit([_view(r) for r in reversed(records)]))


# -- the project's files -------------------------------------------------------------------


def _config(project: EnvProject, *, required: bool) -> LoadedConfig | None:
    """safeship.toml: the given one, else ./safeship.toml if there is one (or an error)."""
    from safeship.config import find_config
    from safeship.config.cache import load_config_reused
    from safeship.config.loader import CONFIG_FILENAME

    config = project.config
    if config is None and not required and not (Path.cwd() / CONFIG_FILENAME).is_file():
        return None
    # The env commands only read safeship.toml: the last validation of the same file serves.
    return load_config_reused(find_config(config))


def _schema_path(project: EnvProject) -> tuple[Path, bool]:
    """The schema's path, and whether the user named it (else it is the default)."""
    from safeship.envschema.schema import SCHEMA_FILENAME

    if project.schema is not None:
        return project.schema, True
    loaded = _config(project, required=project.config is not None)
    if loaded is not None:
        return loaded.base_dir / loaded.config.project.env_schema, False
    return Path(SCHEMA_FILENAME), False


def load_schema(project: EnvProject) -> Schema:
    """The project's env.schema.toml (an error when it cannot be read)."""
    from safeship.envschema.schema import load_schema as load

    return load(_schema_path(project)[0])


def optional_schema(project: EnvProject) -> Schema | None:
    """The schema, or None when none was named and the default file does not exist."""
    from safeship.envschema.schema import load_schema as load

    path, named = _schema_path(project)
    if not named and not path.is_file():
        return None
    return load(path)


def _default_env_files(environment: str) -> list[Path]:
    return [p for p in (Path(".env"), Path(f".env.{environment}")) if p.is_file()]


def _live(sources: EnvSources) -> EnvSources:
    """The sources named, else the target's variables (what runs)."""
    return sources if sources.named else EnvSources(from_target=True)


def _usage(message: str) -> NoReturn:
    from safeship.envschema.problems import EnvSourceError

    raise EnvSourceError([message])


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _variables(
    project: EnvProject,
    environment: str,
    env_schema: EnvironmentSchema | None,
    sources: EnvSources,
) -> Variables:
    import os

    from safeship.envschema.sources import collect
    from safeship.redaction import register_secret

    if sources.from_process and env_schema is None:
        _usage("--from-process needs the schema: it names the variables to take from the process")
    target: dict[str, str] | None = None
    locate = None
    if sources.from_target:
        target, locate = _target_variables(project, environment)
    variables = collect(
        env_files=list(sources.env_files),
        target=target,
        target_location=locate,
        process=os.environ if sources.from_process else None,
        names=env_schema.variables.keys() if env_schema else (),
    )
    # Defence in depth: whatever is printed later goes through the redaction, which now knows
    # these values even if some message were to quote one.
    for name in env_schema.secret_names if env_schema else ():
        register_secret(variables.values.get(name))
    return variables


def _target_variables(
    project: EnvProject, environment: str
) -> tuple[dict[str, str], Callable[[str], str | None]]:
    """The variables the environment's target gives a release, and where each comes from."""
    from safeship._toml import KeyIndex
    from safeship.envschema.sources import target_source
    from safeship.pipeline.environment import open_environment

    loaded = _config(project, required=True)
    assert loaded is not None
    target = open_environment(loaded, environment).target
    variables = target.variables()
    platform = target_source(loaded.config.environments[environment].target.type, environment)
    table = target.variables_table()
    if table is None:
        # Railway's API, a command target's variables script, a plugin: not a line of the file.
        return variables, lambda name: platform
    # A target whose variables are a table of safeship.toml (the local target's `env`): each
    # name is a line of it (the table's own line for an inline table).
    index = KeyIndex(loaded.path.read_text(encoding="utf-8"))

    def locate(name: str) -> str | None:
        line = index.line(("environments", environment, "target", *table, name))
        return f"{loaded.path.name}:{line}" if line else platform

    return variables, locate


def _key(project: EnvProject, schema: Schema | None) -> FingerprintKey:
    """The project's fingerprint key, kept in .safeship/ beside safeship.toml (or the schema)."""
    from safeship.envschema.fingerprint import load_key

    loaded = _config(project, required=False)
    if loaded is not None:
        return load_key(loaded.state_dir)
    base = schema.path.parent if schema is not None else Path.cwd()
    return load_key(base / ".safeship")


def _registry(project: EnvProject) -> Registry:
    from safeship.registry import Registry

    loaded = _config(project, required=True)
    assert loaded is not None
    return Registry(loaded.registry_url())


def _view(record: EnvSnapshotRecord) -> SnapshotView:
    from safeship.envschema.compare import SnapshotView

    return SnapshotView(
        record.id, record.taken_at, record.taken_by, record.fingerprint_key_id, record.variables
    )
