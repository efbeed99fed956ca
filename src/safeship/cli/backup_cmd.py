"""safeship backup list|create|restore: the database backups the backup gate keeps
(docs/gates/backup.md).

A restore names its target database explicitly (``--to URL``) and refuses the database the
environment serves from, and any database that is not empty, unless ``--force``. The URL's
password is never printed (every line shows it masked).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from safeship.cli.options import ConfigOption, JsonOption

if TYPE_CHECKING:
    from safeship.core import StoredFile

backup_app = typer.Typer(help="Database backups: list, take, restore.", no_args_is_help=True)


@backup_app.callback()
def _group() -> None:
    """Database backups: list, take, restore."""


def _as_json(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "environment": stored.environment,
        "name": stored.name,
        "size": stored.size,
        "sha256": stored.sha256,
        "createdAt": stored.created_at.isoformat(),
        "deploymentId": stored.deployment_id,
        "url": stored.url,
    }


def _line(stored: StoredFile) -> str:
    taken = stored.created_at.strftime("%Y-%m-%d %H:%M:%S")
    deployment = stored.deployment_id[:8] if stored.deployment_id else "on demand"
    return (
        f"{stored.id[:8]}  {stored.environment:<12} {taken} UTC  {stored.size:>12,} B  "
        f"sha256 {stored.sha256[:12]}  {deployment}"
    )


@backup_app.command("list")
def list_backups(
    environment: Annotated[
        str | None, typer.Argument(help="Only this environment's backups.")
    ] = None,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The stored backups, newest first: id, environment, time, size, checksum, deployment."""
    from safeship import core
    from safeship.cli.common import load

    found = core.backups(load(config), environment)
    if json_output:
        print(json.dumps([_as_json(s) for s in found], indent=2))
        return
    if not found:
        where = f" of {environment}" if environment else ""
        print(f"no backups{where} yet: safeship backup create ENV, or enable the backup gate")
    for stored in found:
        print(_line(stored))


@backup_app.command("create")
def create(
    environment: Annotated[str, typer.Argument(help="The environment whose database to back up.")],
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Back up the environment's database now (pg_dump, verified, stored, retention applied)."""
    from safeship import core
    from safeship.cli.common import load

    taken = core.create_backup(load(config), environment)
    if json_output:
        print(
            json.dumps(
                {
                    **_as_json(taken.stored),
                    "entries": taken.entries,
                    "seconds": round(taken.seconds, 3),
                    "deleted": taken.deleted,
                },
                indent=2,
            )
        )
        return
    print(
        f"backup {taken.stored.id[:8]} of {taken.database}: {taken.stored.size:,} B, "
        f"{taken.entries} entries, sha256 {taken.stored.sha256[:12]}, {taken.seconds:.1f} s"
    )
    if taken.deleted:
        print(f"{taken.deleted} older backup(s) deleted (retention)")


@backup_app.command("restore")
def restore(
    backup: Annotated[str, typer.Argument(help="The backup's id (or its first 8 digits).")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The database to restore into (postgresql://...); it must exist and be "
            "empty. Tip: keep its password in PGPASSWORD rather than in the URL.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Restore even into the environment's serving database, or one that is not "
            "empty (its objects of the same names are replaced).",
        ),
    ] = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Restore a backup into a database (verified against its checksum first), then count
    the rows of each table."""
    from safeship import core
    from safeship.cli.common import load

    result = core.restore_backup(load(config), backup, to, force=force)
    if json_output:
        print(
            json.dumps(
                {
                    "backup": result.stored.id,
                    "database": result.database,
                    "seconds": round(result.seconds, 3),
                    "replaced": result.replaced,
                    "rowCounts": result.row_counts,
                },
                indent=2,
            )
        )
        return
    print(
        f"backup {result.stored.id[:8]} ({result.stored.environment}, "
        f"{result.stored.created_at:%Y-%m-%d %H:%M} UTC) restored into {result.database} "
        f"in {result.seconds:.1f} s"
    )
    width = max((len(name) for name in result.row_counts), default=0)
    for name, count in result.row_counts.items():
        print(f"  {name:<{width}}  {count:>12,} rows")
    if not result.row_counts:
        print("  (no tables)")
