"""safeship's core: the one set of operations every face (the CLI, a dashboard) calls.

Typed arguments in, typed records out (frozen dataclasses, interpreted: no raw registry rows
nor router stats objects to read). A face imports this package only, besides loading the config
and its own rendering; the registry, the targets, the routers and the deploy paths are the
core's to call.

Importing it is light: the registry (SQLAlchemy, Alembic), httpx and the judge (scipy) are
imported by the operations that need them, and the names below that live in heavy modules are
resolved on first use (``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from safeship.core._config import config_problems
from safeship.core._deployments import (
    abort,
    abort_running,
    deploy,
    deploy_mode,
    deploy_result,
    down,
    history,
    promote,
    recover,
    rollback,
    status,
    up,
)
from safeship.core._env import (
    EnvAudit,
    EnvCheckReport,
    EnvDiff,
    EnvDrift,
    EnvProject,
    EnvSnapshotTaken,
    EnvSources,
    SnapshotRef,
    env_audit,
    env_check,
    env_diff,
    env_drift,
    env_snapshot,
    load_schema,
    optional_schema,
)
from safeship.core._paths import paths_status
from safeship.core._records import (
    AnalysisFigures,
    DeploymentSummary,
    DeployMode,
    DeployRequest,
    DeployResult,
    EnvironmentStatus,
    Failover,
    HistoryQuery,
    MetricFigures,
    PathStatus,
    ReleaseStatus,
    ReleaseTraffic,
    RollbackResult,
    TrafficRow,
    analysis_figures,
    deployment_summary,
    traffic_rows,
)
from safeship.pipeline.states import TERMINAL, Status

if TYPE_CHECKING:
    from safeship.core._health import (
        BaselineRun,
        HealthReport,
        UsageError,
        baseline,
        check_service,
        level_name,
        smoke,
    )
    from safeship.health.base import CheckResult
    from safeship.pipeline.deploy import (
        DeploymentOutcome,
        DeployRefused,
        Interrupted,
        LiveSnapshot,
    )
    from safeship.pipeline.requests import RequestRefused
    from safeship.registry import DeploymentRecord, EnvironmentBusy

# Names resolved on first use: their modules import httpx, SQLAlchemy or the judge.
_LAZY = {
    "BaselineRun": "safeship.core._health",
    "HealthReport": "safeship.core._health",
    "UsageError": "safeship.core._health",
    "baseline": "safeship.core._health",
    "check_service": "safeship.core._health",
    "level_name": "safeship.core._health",
    "smoke": "safeship.core._health",
    "CheckResult": "safeship.health.base",
    "DeployRefused": "safeship.pipeline.deploy",
    "DeploymentOutcome": "safeship.pipeline.deploy",
    "Interrupted": "safeship.pipeline.deploy",
    "LiveSnapshot": "safeship.pipeline.deploy",
    "RequestRefused": "safeship.pipeline.requests",
    "DeploymentRecord": "safeship.registry",
    "EnvironmentBusy": "safeship.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "TERMINAL",
    "AnalysisFigures",
    "BaselineRun",
    "CheckResult",
    "DeployMode",
    "DeployRefused",
    "DeployRequest",
    "DeployResult",
    "DeploymentOutcome",
    "DeploymentRecord",
    "DeploymentSummary",
    "EnvAudit",
    "EnvCheckReport",
    "EnvDiff",
    "EnvDrift",
    "EnvProject",
    "EnvSnapshotTaken",
    "EnvSources",
    "EnvironmentBusy",
    "EnvironmentStatus",
    "Failover",
    "HealthReport",
    "HistoryQuery",
    "Interrupted",
    "LiveSnapshot",
    "MetricFigures",
    "PathStatus",
    "ReleaseStatus",
    "ReleaseTraffic",
    "RequestRefused",
    "RollbackResult",
    "SnapshotRef",
    "Status",
    "TrafficRow",
    "UsageError",
    "abort",
    "abort_running",
    "analysis_figures",
    "baseline",
    "check_service",
    "config_problems",
    "deploy",
    "deploy_mode",
    "deploy_result",
    "deployment_summary",
    "down",
    "env_audit",
    "env_check",
    "env_diff",
    "env_drift",
    "env_snapshot",
    "history",
    "level_name",
    "load_schema",
    "optional_schema",
    "paths_status",
    "promote",
    "recover",
    "rollback",
    "smoke",
    "status",
    "traffic_rows",
    "up",
]
