"""Deployment registry: deployments and their events, on SQLite or PostgreSQL."""

from safeship.registry.store import (
    STATUSES,
    TERMINAL_STATUSES,
    DeploymentRecord,
    EventRecord,
    Registry,
    RegistryError,
)

__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "DeploymentRecord",
    "EventRecord",
    "Registry",
    "RegistryError",
]
