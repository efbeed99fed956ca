"""The structured deployment log: the registry's events as the architecture's documents.

Each entry is one ``deployment.started``-style document (timestamp, event, environment,
version, commit, triggered_by, deployment_id, and the event's own attributes), what
`safeship logs` prints one JSON object per line for log shippers. The registry is opened by
the operation (SQLAlchemy, Alembic are not imported by importing this module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from safeship.config import LoadedConfig
from safeship.core._health import UsageError

if TYPE_CHECKING:
    from safeship.registry import DeploymentRecord, Registry
    from safeship.registry.records import EventRecord

# The most entries one read returns (the newest ones).
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class LogEntry:
    """One event of the deployment log; ``id`` orders entries (a follower reads after it)."""

    id: int
    timestamp: datetime
    event: str
    environment: str | None
    version: str | None
    commit: str | None
    triggered_by: str | None
    deployment_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_document(self) -> dict[str, Any]:
        """The architecture's event document (JSON-ready; the timestamp in UTC, ISO 8601)."""
        return {
            "timestamp": self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "event": self.event,
            "environment": self.environment,
            "version": self.version,
            "commit": self.commit,
            "triggered_by": self.triggered_by,
            "deployment_id": self.deployment_id,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class LogQuery:
    """Which entries: an environment's, a deployment's (an id or a prefix of 6+ hex digits),
    from ``since`` (a duration back from now, ``15m``, or an ISO 8601 time), the newest
    ``limit``; ``after``: only entries after that id (following)."""

    environment: str | None = None
    deployment: str | None = None
    since: str | None = None
    limit: int = 100
    after: int | None = None


def log_entry(record: EventRecord) -> LogEntry:
    """A registry event as a log entry (the RegistrySink stores the document's fields)."""
    stored = record.attributes

    def text(key: str) -> str | None:
        value = stored.get(key)
        return value if isinstance(value, str) else None

    own = stored.get("attributes")
    return LogEntry(
        id=record.id,
        timestamp=record.timestamp,
        event=record.name,
        environment=text("environment"),
        version=text("version"),
        commit=text("commit"),
        triggered_by=text("triggered_by"),
        deployment_id=record.deployment_id,
        attributes=dict(own) if isinstance(own, dict) else {},
    )


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``15m``, ``2h``, ``1d12h`` back from ``now``, or an ISO 8601 time (UTC if no zone)."""
    from safeship.envschema.types import parse_duration

    moment = now or datetime.now(UTC)
    spec = text.strip()
    try:
        return moment - parse_duration(spec)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: {text!r} is neither a duration (15m, 2h, 1d) nor an ISO 8601 time"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def deployment_log(loaded: LoadedConfig, query: LogQuery) -> list[LogEntry]:
    """The entries ``query`` asks for, oldest first (an unknown environment or deployment is
    an error, not an empty log)."""
    from safeship.pipeline.environment import open_environment
    from safeship.registry import Registry

    if not 1 <= query.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    if query.environment is not None:
        open_environment(loaded, query.environment)  # raises the config error, at file:line
    since = parse_since(query.since) if query.since else None
    with Registry(loaded.registry_url()) as registry:
        deployment_id = None
        if query.deployment is not None:
            deployment_id = find_deployment(registry, query.deployment, "--deployment: ").id
        records = registry.event_log(
            environment=query.environment,
            deployment_id=deployment_id,
            since=since,
            after_id=query.after,
            limit=query.limit,
        )
    return [log_entry(r) for r in records]


def find_deployment(registry: Registry, deployment: str, label: str = "") -> DeploymentRecord:
    """The deployment whose id is ``deployment``, or starts with it (6+ hex digits); a
    UsageError (its message after ``label``) when there is none or the prefix is ambiguous."""
    from safeship.registry import RegistryError

    try:
        record = registry.get(deployment) or registry.find(deployment)
    except RegistryError as exc:  # not an id nor a prefix of one, or an ambiguous prefix
        raise UsageError(f"{label}{exc}") from None
    if record is None:
        raise UsageError(f"{label}no deployment {deployment!r}")
    return record
