"""Deployment registry: deployments, their events, env snapshots and environment leases, on
SQLite or PostgreSQL."""

from safeship.registry.leases import EnvironmentBusy, Lease, LeaseLost
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
    "EnvironmentBusy",
    "EventRecord",
    "Lease",
    "LeaseLost",
    "Registry",
    "RegistryError",
]
