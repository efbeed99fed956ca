"""Deployment registry: deployments, their events and typed records, env snapshots and
environment leases, on SQLite or PostgreSQL.

The names are loaded on first use (PEP 562), so that importing the package (or one record
type) does not load the whole registry: start-up time of every command counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safeship._lazy import lazy_exports

if TYPE_CHECKING:
    from safeship.registry.errors import RegistryError
    from safeship.registry.leases import EnvironmentBusy, LeaseLost
    from safeship.registry.records import (
        STATUSES,
        TERMINAL_STATUSES,
        BaselineRecord,
        CheckResultRecord,
        DeploymentRecord,
        EnvSnapshotRecord,
        EventRecord,
        Lease,
        RequestRecord,
        StepResult,
    )
    from safeship.registry.store import Registry

_HOMES = {
    "STATUSES": "records",
    "TERMINAL_STATUSES": "records",
    "BaselineRecord": "records",
    "CheckResultRecord": "records",
    "DeploymentRecord": "records",
    "EnvSnapshotRecord": "records",
    "EventRecord": "records",
    "Lease": "records",
    "RequestRecord": "records",
    "StepResult": "records",
    "EnvironmentBusy": "leases",
    "LeaseLost": "leases",
    "Registry": "store",
    "RegistryError": "errors",
}

__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "BaselineRecord",
    "CheckResultRecord",
    "DeploymentRecord",
    "EnvSnapshotRecord",
    "EnvironmentBusy",
    "EventRecord",
    "Lease",
    "LeaseLost",
    "Registry",
    "RegistryError",
    "RequestRecord",
    "StepResult",
]


__getattr__ = lazy_exports(
    __name__, {name: f"{__name__}.{home}" for name, home in _HOMES.items()}, globals()
)
