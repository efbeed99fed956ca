"""Database backups (docs/gates/backup.md): list an environment's, take one on demand, and
restore one into a given database. `safeship backup ...` calls these; the backup gate takes
its backups with the same code (:func:`safeship.gates.backup.take_backup`).

A restore never lands in a serving database by accident: the database of any configured
environment (its backup variable's URL, compared by host, port and name) is refused without
``force``, and so is any database that is not empty (with ``force`` its objects of the same
names are replaced).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safeship._files import private_dir
from safeship.registry.gate_rows import StoredFile

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.gates import postgres

# Seconds a restore may take: a large database restores for hours, and a person is watching.
RESTORE_TIMEOUT_S = 24 * 3600.0


class BackupRefused(Exception):
    """A backup or restore the user asked for cannot be done as asked (one line): the serving
    database, a database not empty, a URL that is not PostgreSQL's."""


class BackupFailed(Exception):
    """pg_dump, pg_restore or the artifact store failed (one line, no password)."""


@dataclass(frozen=True)
class BackupTaken:
    stored: StoredFile
    database: str  # the database's URL, password masked
    entries: int
    dump_seconds: float
    seconds: float
    deleted: int  # older backups removed by retention


@dataclass(frozen=True)
class RestoreResult:
    stored: StoredFile
    database: str  # where it was restored, password masked
    seconds: float
    row_counts: dict[str, int]
    replaced: bool  # --force into a database that had objects


def backups(loaded: LoadedConfig, environment: str | None = None) -> list[StoredFile]:
    """The stored backups, newest first (of one environment, when given)."""
    from safeship.gates.backup import BACKUP_KIND
    from safeship.registry import Registry

    if environment is not None:
        loaded.environment(environment)  # an unknown one: the config error
    with Registry(loaded.registry_url()) as registry:
        return registry.stored_files(BACKUP_KIND, environment)


def create_backup(loaded: LoadedConfig, environment: str) -> BackupTaken:
    """Take a backup of the environment's database now, as the backup gate does (its
    settings: the variable, the timeout, the retention)."""
    from safeship.artifacts.store import ArtifactError, ArtifactStore
    from safeship.gates.backup import BackupError, database_url, take_backup
    from safeship.pipeline.environment import open_environment
    from safeship.registry import Registry

    env = open_environment(loaded, environment)
    settings = env.settings.gates.backup
    try:
        database = database_url(env.target.variables(), settings.database_url)
        with Registry(loaded.registry_url()) as registry:
            backup = take_backup(
                ArtifactStore.for_config(loaded, registry),
                environment,
                database,
                settings,
                env.run_dir / "backups",
            )
    except (BackupError, ArtifactError) as exc:
        raise BackupFailed(f"backup of {environment} failed: {exc}") from None
    return BackupTaken(
        backup.stored,
        database.masked,
        backup.entries,
        backup.dump_seconds,
        backup.seconds,
        backup.deleted,
    )


def restore_backup(
    loaded: LoadedConfig, backup_id: str, to_url: str, *, force: bool = False
) -> RestoreResult:
    """Restore a stored backup (id or id prefix) into the database at ``to_url``: fetched
    and checked against its checksum, listed by pg_restore, restored, its rows counted."""
    from safeship.artifacts.store import ArtifactError, ArtifactStore
    from safeship.gates import postgres
    from safeship.gates.backup import BACKUP_KIND
    from safeship.registry import Registry

    try:
        target = postgres.parse_url(to_url, "--to")
    except postgres.DatabaseToolError as exc:
        raise BackupRefused(str(exc)) from None
    with Registry(loaded.registry_url()) as registry:
        stored = registry.stored_file(backup_id)
        if stored.kind != BACKUP_KIND:
            raise BackupRefused(f"stored file {stored.id[:8]} is a {stored.kind}, not a backup")
        serving = _serving_database(loaded, target, stored.environment)
        try:
            if serving is not None and not force:
                raise BackupRefused(
                    f"{target.masked} is the database {serving} serves from: "
                    "restore into another database, or give --force to overwrite it"
                )
            empty = postgres.is_empty(target)
            if not empty and not force:
                raise BackupRefused(
                    f"{target.masked} is not empty: restore into an empty database, or give "
                    "--force to replace its objects of the same names"
                )
            # Under the state directory, not /tmp: a dump can be larger than a tmpfs.
            state = private_dir(loaded.state_dir)
            with tempfile.TemporaryDirectory(prefix="restore-", dir=state) as tmp:
                local = Path(tmp) / stored.name
                ArtifactStore.for_config(loaded, registry).fetch(stored.id, local)
                postgres.verify(local)
                seconds = postgres.restore(
                    local, target, timeout=RESTORE_TIMEOUT_S, clean=not empty
                )
            counts = postgres.row_counts(target)
        except (postgres.DatabaseToolError, ArtifactError) as exc:
            raise BackupFailed(f"restore of backup {stored.id[:8]} failed: {exc}") from None
    return RestoreResult(stored, target.masked, seconds, counts, replaced=not empty)


def _serving_database(
    loaded: LoadedConfig, target: postgres.DatabaseURL, backup_environment: str
) -> str | None:
    """The environment that serves from the database ``target`` names (its backup variable's
    URL, compared by host, port and name), or None. The backup's own environment must say
    (a target that cannot list its variables is the error); another environment whose target
    cannot (a platform token not set here) is passed over: the not-empty check still holds."""
    from safeship.gates import postgres
    from safeship.pipeline.environment import open_environment
    from safeship.targets.base import TargetError

    names = sorted(loaded.config.environments, key=lambda name: name != backup_environment)
    for name in names:
        env = open_environment(loaded, name)
        try:
            value = env.target.variables().get(env.settings.gates.backup.database_url, "")
        except TargetError:
            if name == backup_environment:
                raise
            continue
        try:
            serving = postgres.parse_url(value) if value else None
        except postgres.DatabaseToolError:
            continue
        if serving is not None and serving.same_database(target):
            return name
    return None
