"""The artifact store: files kept beside the deployments (a deployment's report as markdown and
JSON; later, database backups).

``ArtifactStore`` is the interface (put, get, list, delete, retention by count) so that another
store (files in a directory, for large backups) can implement it the same way; this module's
``RegistryArtifacts`` keeps them in the registry's ``artifacts`` table, SQLite or PostgreSQL.
An artifact is bytes with a kind, a name, a media type, its SHA-256 and size; at most
``MAX_SIZE`` bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from safeship.registry import deployments
from safeship.registry.errors import RegistryError, check_text, parse_id
from safeship.registry.sql import Row, Tx, db_id, db_time, to_id, to_optional_id, to_time

# 16 MiB: a report is a few kilobytes; a file much larger belongs in a file-backed store.
MAX_SIZE: Final = 16 * 1024 * 1024
KIND_LEN: Final = 64
NAME_LEN: Final = 255
MEDIA_TYPE_LEN: Final = 100
MAX_LIST: Final = 1000


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """An artifact without its content (what a listing gives)."""

    id: str
    deployment_id: str | None
    kind: str  # e.g. "report.md", "report.json"
    name: str  # a file name a person downloads it as
    media_type: str
    sha256: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Artifact:
    info: ArtifactInfo
    content: bytes

    def text(self) -> str:
        return self.content.decode("utf-8")


class ArtifactStore(Protocol):
    """What a store of artifacts does, whatever holds the bytes."""

    def put(
        self,
        kind: str,
        name: str,
        media_type: str,
        content: bytes,
        *,
        deployment_id: str | None = None,
        replace: bool = False,
    ) -> ArtifactInfo:
        """Store ``content``; ``replace``: first delete the deployment's artifacts of ``kind``
        (one current report per deployment), in the same transaction."""
        ...

    def get(self, artifact_id: str) -> Artifact | None: ...

    def latest(self, deployment_id: str, kind: str) -> Artifact | None:
        """The deployment's newest artifact of ``kind``."""
        ...

    def list(
        self, *, deployment_id: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[ArtifactInfo]:
        """Newest first; of one deployment and/or one kind."""
        ...

    def delete(self, artifact_id: str) -> bool: ...

    def keep_newest(self, kind: str, count: int) -> int:
        """Retention: delete all but the newest ``count`` artifacts of ``kind``; how many went."""
        ...


class RegistryArtifacts:
    """The artifact store in the registry's ``artifacts`` table (``Registry.artifacts``)."""

    def __init__(
        self,
        reading: Callable[[str], AbstractContextManager[Tx]],
        writing: Callable[[str], AbstractContextManager[Tx]],
        now: Callable[[], datetime],
    ) -> None:
        self._reading = reading
        self._writing = writing
        self._now = now

    def put(
        self,
        kind: str,
        name: str,
        media_type: str,
        content: bytes,
        *,
        deployment_id: str | None = None,
        replace: bool = False,
    ) -> ArtifactInfo:
        check_text("kind", kind, KIND_LEN)
        check_text("name", name, NAME_LEN)
        check_text("media_type", media_type, MEDIA_TYPE_LEN)
        if not isinstance(content, bytes):
            raise RegistryError("artifact content must be bytes")
        if len(content) > MAX_SIZE:
            raise RegistryError(
                f"artifact {name!r} is {len(content)} bytes, over the {MAX_SIZE}-byte limit"
            )
        key = None
        if deployment_id is not None:
            key = parse_id(deployment_id)
            if key is None:
                raise RegistryError(f"no deployment {deployment_id!r}")
        info = ArtifactInfo(
            id=str(uuid.uuid4()),
            deployment_id=key,
            kind=kind,
            name=name,
            media_type=media_type,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            created_at=self._now(),
        )
        with self._writing("store artifact") as tx:
            if key is not None and not deployments.exists(tx, key):
                raise RegistryError(f"no deployment {deployment_id!r}")
            if replace and key is not None:
                tx.run(
                    "DELETE FROM artifacts WHERE deployment_id = :deployment_id AND kind = :kind",
                    {"deployment_id": db_id(key), "kind": kind},
                )
            _insert(tx, info, content)
        return info

    def get(self, artifact_id: str) -> Artifact | None:
        key = parse_id(artifact_id)
        if key is None:
            return None
        with self._reading("read artifact") as tx:
            rows = tx.rows(
                f"SELECT {_INFO_COLUMNS}, content FROM artifacts WHERE id = :id",
                {"id": db_id(key)},
            )
        return _artifact(rows[0]) if rows else None

    def latest(self, deployment_id: str, kind: str) -> Artifact | None:
        key = parse_id(deployment_id)
        if key is None:
            return None
        with self._reading("read artifact") as tx:
            rows = tx.rows(
                f"SELECT {_INFO_COLUMNS}, content FROM artifacts "
                "WHERE deployment_id = :deployment_id AND kind = :kind "
                "ORDER BY created_at DESC, id DESC LIMIT 1",
                {"deployment_id": db_id(key), "kind": kind},
            )
        return _artifact(rows[0]) if rows else None

    def list(
        self, *, deployment_id: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[ArtifactInfo]:
        if not 1 <= limit <= MAX_LIST:
            raise RegistryError(f"limit must be between 1 and {MAX_LIST}, got {limit}")
        where, params = [], {}
        if deployment_id is not None:
            key = parse_id(deployment_id)
            if key is None:
                return []
            where.append("deployment_id = :deployment_id")
            params["deployment_id"] = db_id(key)
        if kind is not None:
            where.append("kind = :kind")
            params["kind"] = kind
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._reading("list artifacts") as tx:
            rows = tx.rows(
                f"SELECT {_INFO_COLUMNS} FROM artifacts {clause}"
                f"ORDER BY created_at DESC, id DESC LIMIT {int(limit)}",
                params,
            )
        return [_info(row) for row in rows]

    def delete(self, artifact_id: str) -> bool:
        key = parse_id(artifact_id)
        if key is None:
            return False
        with self._writing("delete artifact") as tx:
            return bool(tx.run("DELETE FROM artifacts WHERE id = :id", {"id": db_id(key)}))

    def keep_newest(self, kind: str, count: int) -> int:
        if count < 0:
            raise RegistryError(f"count must not be negative, got {count}")
        with self._writing("apply artifact retention") as tx:
            rows = tx.rows(
                "SELECT id FROM artifacts WHERE kind = :kind ORDER BY created_at DESC, id DESC",
                {"kind": kind},
            )
            doomed = [to_id(row[0]) for row in rows[count:]]
            for artifact_id in doomed:
                tx.run("DELETE FROM artifacts WHERE id = :id", {"id": db_id(artifact_id)})
        return len(doomed)


_INFO_COLUMNS = "id, deployment_id, kind, name, media_type, sha256, size, created_at"


def _insert(tx: Tx, info: ArtifactInfo, content: bytes) -> None:
    tx.run(
        "INSERT INTO artifacts (id, deployment_id, kind, name, media_type, content, sha256, "
        "size, created_at) VALUES (:id, :deployment_id, :kind, :name, :media_type, :content, "
        ":sha256, :size, :created_at)",
        {
            "id": db_id(info.id),
            "deployment_id": db_id(info.deployment_id) if info.deployment_id else None,
            "kind": info.kind,
            "name": info.name,
            "media_type": info.media_type,
            "content": content,
            "sha256": info.sha256,
            "size": info.size,
            "created_at": db_time(tx, info.created_at),
        },
    )


def _info(row: Row) -> ArtifactInfo:
    return ArtifactInfo(
        id=to_id(row[0]),
        deployment_id=to_optional_id(row[1]),
        kind=row[2],
        name=row[3],
        media_type=row[4],
        sha256=row[5],
        size=int(row[6]),
        created_at=to_time(row[7]),
    )


def _artifact(row: Row) -> Artifact:
    return Artifact(_info(row), bytes(row[8]))
