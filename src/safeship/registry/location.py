"""Where a registry lives, from its URL, without importing SQLAlchemy for the common case.

``sqlite:///path`` (the default) is recognised here; anything else is parsed by SQLAlchemy
(``engine.parse_url``), which is imported only then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# A plain file: no query string, no %-escapes, no in-memory name. SQLAlchemy reads these the
# same way (the database is the text after the third slash).
_PLAIN_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?#%]+)")


@dataclass(frozen=True, slots=True)
class Location:
    url: str  # as configured, password masked: how messages name the registry
    backend: str  # "sqlite" or "postgresql"
    file: Path | None  # a SQLite registry's file; None for PostgreSQL and in-memory SQLite
    password: str | None  # to mask it in driver messages that might echo it


def locate(url: str) -> Location:
    """The registry at ``url``; RegistryError for an invalid or unsupported URL."""
    plain = _PLAIN_SQLITE_FILE.fullmatch(url)
    if plain is not None and plain["path"] != ":memory:":
        return Location(url, "sqlite", Path(plain["path"]), None)
    from safeship.registry.engine import masked_url, parse_url, sqlite_file

    parsed = parse_url(url)
    backend = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
    return Location(masked_url(url), backend, sqlite_file(parsed), parsed.password)


def registry_file(url: str) -> Path | None:
    """The SQLite file of a registry URL as configured (None when it is not a plain file)."""
    return locate(url).file
