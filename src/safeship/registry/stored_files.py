"""Stored files repository: the index of the artifact file store (``safeship.artifacts``), one
row per whole file kept in a local directory or at an fsspec URL. ``Registry`` inherits the
methods (see ``store``)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.records import ENVIRONMENT_LEN
from safeship.registry.repository import Repository
from safeship.registry.sql import db_id, db_time, to_id, to_optional_id, to_time

if TYPE_CHECKING:
    from safeship.registry.gate_rows import StoredFile

KIND_LEN = 32
FILE_NAME_LEN = 255
SHA256_LEN = 64


_COLUMNS = "id, kind, environment, name, url, sha256, size, created_at, deployment_id"


def _stored(row: Any) -> StoredFile:
    from safeship.registry.gate_rows import StoredFile

    return StoredFile(
        to_id(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        int(row[6]),
        to_time(row[7]),
        to_optional_id(row[8]),
    )


class StoredFileRecords(Repository):
    """Add, find, list and remove the index rows of stored files."""

    def add_stored_file(self, stored: StoredFile) -> None:
        """Index a file already written whole to the store."""
        check_text("kind", stored.kind, KIND_LEN)
        check_text("environment", stored.environment, ENVIRONMENT_LEN)
        check_text("name", stored.name, FILE_NAME_LEN)
        check_text("sha256", stored.sha256, SHA256_LEN)
        with self._writing("index a stored file") as tx:
            tx.run(
                f"INSERT INTO stored_files ({_COLUMNS}) VALUES (:id, :kind, :environment, "
                ":name, :url, :sha256, :size, :created_at, :deployment_id)",
                {
                    "id": db_id(stored.id),
                    "kind": stored.kind,
                    "environment": stored.environment,
                    "name": stored.name,
                    "url": stored.url,
                    "sha256": stored.sha256,
                    "size": stored.size,
                    "created_at": db_time(tx, stored.created_at),
                    "deployment_id": (
                        db_id(stored.deployment_id) if stored.deployment_id else None
                    ),
                },
            )

    def stored_file(self, file_id: str) -> StoredFile:
        """The stored file whose id starts with ``file_id`` (6 to 32 hex digits, as listings
        show ids); matched as a range over the id, like ``Registry.find``."""
        digits = file_id.strip().replace("-", "").lower()
        if not 6 <= len(digits) <= 32 or any(c not in "0123456789abcdef" for c in digits):
            raise RegistryError(f"no stored file {file_id!r} (give its id: 6-32 hex digits)")
        low = str(uuid.UUID(digits.ljust(32, "0")))
        high = str(uuid.UUID(digits.ljust(32, "f")))
        with self._reading("read a stored file") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM stored_files WHERE id BETWEEN :low AND :high LIMIT 2",
                {"low": db_id(low), "high": db_id(high)},
            )
        if not rows:
            raise RegistryError(f"no stored file {file_id!r}")
        if len(rows) > 1:
            raise RegistryError(f"stored file id {file_id!r} matches more than one: give more")
        return _stored(rows[0])

    def stored_files(
        self,
        kind: str | None = None,
        environment: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[StoredFile]:
        """Stored files, newest first, optionally of one kind and environment."""
        where: list[str] = []
        params: dict[str, object] = {}
        if kind is not None:
            where.append("kind = :kind")
            params["kind"] = kind
        if environment is not None:
            where.append("environment = :environment")
            params["environment"] = environment
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        bound = f" LIMIT {int(limit)}" if limit is not None else ""
        with self._reading("list stored files") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM stored_files{clause} "
                f"ORDER BY created_at DESC, id DESC{bound}",
                params,
            )
        return [_stored(row) for row in rows]

    def remove_stored_file(self, file_id: str) -> bool:
        """Remove a file's index row (before the file itself: a crash in between leaves an
        unindexed file, never a row naming a missing one); whether it was there."""
        with self._writing("remove a stored file") as tx:
            return tx.run("DELETE FROM stored_files WHERE id = :id", {"id": db_id(file_id)}) > 0
