"""Look at a registry without changing it: does it exist, which migration is it at, what time
does its server think it is. For ``safeship doctor``: opening a ``Registry`` would migrate it
(and the first write create it), which a diagnosis must not do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from safeship.registry import migrations
from safeship.registry.engine import parse_url, readonly_engine, sqlite_file
from safeship.registry.errors import RegistryError, first_line
from safeship.registry.files import empty_registry_message, file_state

# Seconds to wait for a PostgreSQL server in a diagnosis (a deploy waits longer).
PROBE_TIMEOUT_S = 5


@dataclass(frozen=True, slots=True)
class RegistryProbe:
    url: str  # as configured, password masked
    backend: str  # "sqlite" or "postgresql"
    path: Path | None  # a SQLite registry's file
    exists: bool  # False: a SQLite file not created yet (the first deploy makes it)
    revision: str | None  # the Alembic revision it is at (None: not a safeship registry)
    head: str  # the revision this safeship needs
    server_time: datetime | None  # PostgreSQL's now(), for the clock check
    local_time: datetime | None  # this machine's clock when server_time was read
    error: str | None  # why it could not be read (one line, no password)

    @property
    def migrated(self) -> bool:
        return self.revision == self.head


def probe(url: str, clock: Callable[[], datetime] | None = None) -> RegistryProbe:
    """What the registry at ``url`` is like, read-only; never raises for an unreachable one."""
    head = migrations.head_revision()
    try:
        parsed = parse_url(url)
    except RegistryError as exc:
        return RegistryProbe(url, "?", None, False, None, head, None, None, str(exc))
    masked = make_url(url).render_as_string(hide_password=True)
    backend = parsed.get_backend_name()

    def result(
        path: Path | None, *, exists: bool = True, revision: str | None = None,
        server_time: datetime | None = None, local_time: datetime | None = None,
        error: str | None = None,
    ) -> RegistryProbe:  # fmt: skip
        return RegistryProbe(
            masked, backend, path, exists, revision, head, server_time, local_time, error
        )

    path = sqlite_file(parsed)
    if path is not None:
        try:
            state = file_state(path)
        except RegistryError as exc:
            return result(path, error=str(exc))
        if state == "missing":
            return result(path, exists=False)
        if state == "empty":
            return result(path, error=empty_registry_message(path))
        engine = readonly_engine(path)
    elif backend == "sqlite":
        engine = create_engine(parsed)
    else:
        timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": PROBE_TIMEOUT_S}
        engine = create_engine(parsed, connect_args=timeout)
    try:
        with engine.connect() as connection:
            revision = migrations.current_revision(connection)
            if backend == "postgresql":
                server_time = connection.execute(text("SELECT now()")).scalar_one()
                return result(
                    path, revision=revision, server_time=server_time, local_time=(clock or _now)()
                )
            return result(path, revision=revision)
    except SQLAlchemyError as exc:
        message = first_line(getattr(exc, "orig", None) or exc)
        if parsed.password:
            message = message.replace(parsed.password, "***")
        return result(path, error=message)
    finally:
        engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)
