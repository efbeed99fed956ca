"""The database backup gate: before the release starts, the environment's PostgreSQL database
is dumped (``pg_dump --format=custom``), the dump verified (``pg_restore --list``), checksummed
and kept in the artifact store (kind ``backup``), the oldest beyond ``keep`` deleted. A backup
that fails stops the deploy: a release that changes the schema without one cannot be rolled
back with its data.

The same code takes an on-demand backup (`safeship backup create ENV`): :func:`take_backup`.
The dump also stays on this machine (``run/ENV/backups/``, only the newest) for the migration
dry-run, which restores it into a scratch database.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeship.envschema.limits import size
from safeship.gates.base import GateContext, GateVerdict, failed, passed
from safeship.gates.postgres import DatabaseToolError, DatabaseURL, dump, parse_url, verify
from safeship.redaction import register_secret

if TYPE_CHECKING:
    from safeship.artifacts.store import ArtifactStore, StoredFile
    from safeship.config import EnvironmentSettings
    from safeship.gates.settings import BackupSettings

BACKUP_KIND = "backup"
# Where the newest dump of an environment stays on this machine, under its run directory.
LOCAL_DIR = "backups"


class BackupError(Exception):
    """The backup could not be taken; one line, never the database password."""


@dataclass(frozen=True)
class Backup:
    """A backup taken, verified and stored."""

    stored: StoredFile
    path: Path  # the local copy of the dump (the migration dry-run restores it)
    entries: int  # pg_restore --list: objects in the dump
    dump_seconds: float
    seconds: float  # dump, verify and store
    deleted: int  # older backups removed by retention

    def figures(self) -> dict[str, Any]:
        return {
            "stored_file": self.stored.id,
            "size": self.stored.size,
            "sha256": self.stored.sha256[:12],
            "entries": self.entries,
            "dump_seconds": round(self.dump_seconds, 3),
            "seconds": round(self.seconds, 3),
            "deleted": self.deleted,
        }


def database_url(variables: Mapping[str, str], variable: str) -> DatabaseURL:
    """The environment's database URL from its variables (``variable``: its name), checked;
    its password registered as a secret, so no output line can show it."""
    value = variables.get(variable, "")
    if not value.strip():
        raise BackupError(f"{variable} is not among the environment's variables")
    try:
        database = parse_url(value, variable)
    except DatabaseToolError as exc:
        raise BackupError(str(exc)) from None
    register_secret(database.password)
    return database


def take_backup(
    store: ArtifactStore,
    environment: str,
    database: DatabaseURL,
    settings: BackupSettings,
    local_dir: Path,
    deployment_id: str | None = None,
) -> Backup:
    """Dump, verify, checksum and store the database; apply retention. Nothing half-written
    is left behind: the dump is renamed into place when whole, the store does the same."""
    started = time.monotonic()
    _clear_stale(local_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{environment}-{database.dbname}-{stamp}.dump"
    dest = local_dir / name
    try:
        info = dump(database, dest, settings.timeout)
        entries = verify(dest, settings.timeout)
    except DatabaseToolError as exc:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise BackupError(str(exc)) from None
    try:
        stored = store.put_file(BACKUP_KIND, environment, name, dest, deployment_id)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise
    deleted = store.keep_newest(BACKUP_KIND, environment, settings.keep)
    _keep_only(local_dir, dest)
    return Backup(
        stored=stored,
        path=dest,
        entries=entries,
        dump_seconds=info.seconds,
        seconds=time.monotonic() - started,
        deleted=len(deleted),
    )


def _clear_stale(local_dir: Path) -> None:
    """Remove dumps a killed safeship left half-written (``.NAME.partial``)."""
    if local_dir.is_dir():
        for partial in local_dir.glob(".*.partial"):
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()


def _keep_only(local_dir: Path, newest: Path) -> None:
    """The local copies are for the next gates only: keep the newest dump, not a history (the
    store keeps that)."""
    for old in local_dir.glob("*.dump"):
        if old != newest:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


@dataclass(frozen=True)
class BackupGate:
    settings: BackupSettings
    name: str = "backup"

    def check(self, context: GateContext) -> GateVerdict:
        from safeship.artifacts.store import ArtifactError, ArtifactStore

        try:
            database = database_url(context.target.variables(), self.settings.database_url)
            backup = take_backup(
                ArtifactStore.for_config(context.loaded, context.registry),
                context.environment,
                database,
                self.settings,
                context.run_dir / LOCAL_DIR,
                context.deployment_id,
            )
        except (BackupError, ArtifactError) as exc:
            return failed(str(exc))
        context.facts["backup"] = backup.stored
        context.facts["backup_path"] = backup.path
        stored = backup.stored
        return passed(
            f"{database.dbname}: {size(stored.size)} in {backup.dump_seconds:.1f} s, "
            f"{backup.entries} entries, sha256 {stored.sha256[:12]} (backup {stored.id[:8]})",
            **backup.figures(),
        )


def gate(settings: EnvironmentSettings) -> BackupGate | None:
    backup = settings.gates.backup
    return BackupGate(backup) if backup.enabled else None
