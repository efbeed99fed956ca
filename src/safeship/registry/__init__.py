"""Deployment registry: deployments, their events and env snapshots, on SQLite or PostgreSQL."""

from safeship.registry.store import (
    STATUSES,
    TERMINAL_STATUSES,
    DeploymentRecord,
    EnvSnapshotRecord,
    EventRecord,
    Registry,
    RegistryError,
)

__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "DeploymentRecord",
    "EnvSnapshotRecord",
    "EventRecord",
    "Registry",
    "RegistryError",
]
