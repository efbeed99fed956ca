"""safeship's core: the one set of operations every face (the CLI, a dashboard) calls.

Typed arguments in, typed records out (frozen dataclasses, interpreted: no raw registry rows
nor router stats objects to read). A face imports this package only, besides loading the config
and its own rendering; the registry, the targets, the routers and the deploy paths are the
core's to call.

Importing it is light: every name below is resolved on first use (``__getattr__``), importing
only its own module, so `safeship config check` loads the config checks and not the deploy
operations, and `safeship history` not the env schema; the registry, httpx and the judge are
imported by the operations that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safeship._lazy import lazy_exports

if TYPE_CHECKING:
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
    from safeship.core._health import (
        BaselineRun,
        HealthReport,
        UsageError,
        baseline,
        check_service,
        level_name,
        smoke,
    )
    from safeship.core._notify import (
        ChannelTest,
        OutboxStatus,
        UnknownChannel,
        notify_flush,
        notify_status,
        notify_test,
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
    from safeship.health.base import CheckResult
    from safeship.pipeline.deploy import (
        DeploymentOutcome,
        DeployRefused,
        Interrupted,
        LiveSnapshot,
    )
    from safeship.pipeline.requests import RequestRefused
    from safeship.pipeline.states import TERMINAL, Status
    from safeship.registry import DeploymentRecord, EnvironmentBusy

# Each name's module, imported when the name is first used.
_LAZY = {
    "config_problems": "safeship.core._config",
    "abort": "safeship.core._deployments",
    "abort_running": "safeship.core._deployments",
    "deploy": "safeship.core._deployments",
    "deploy_mode": "safeship.core._deployments",
    "deploy_result": "safeship.core._deployments",
    "down": "safeship.core._deployments",
    "history": "safeship.core._deployments",
    "promote": "safeship.core._deployments",
    "recover": "safeship.core._deployments",
    "rollback": "safeship.core._deployments",
    "status": "safeship.core._deployments",
    "up": "safeship.core._deployments",
    "EnvAudit": "safeship.core._env",
    "EnvCheckReport": "safeship.core._env",
    "EnvDiff": "safeship.core._env",
    "EnvDrift": "safeship.core._env",
    "EnvProject": "safeship.core._env",
    "EnvSnapshotTaken": "safeship.core._env",
    "EnvSources": "safeship.core._env",
    "SnapshotRef": "safeship.core._env",
    "env_audit": "safeship.core._env",
    "env_check": "safeship.core._env",
    "env_diff": "safeship.core._env",
    "env_drift": "safeship.core._env",
    "env_snapshot": "safeship.core._env",
    "load_schema": "safeship.core._env",
    "optional_schema": "safeship.core._env",
    "BaselineRun": "safeship.core._health",
    "HealthReport": "safeship.core._health",
    "UsageError": "safeship.core._health",
    "baseline": "safeship.core._health",
    "check_service": "safeship.core._health",
    "level_name": "safeship.core._health",
    "smoke": "safeship.core._health",
    "ChannelTest": "safeship.core._notify",
    "OutboxStatus": "safeship.core._notify",
    "UnknownChannel": "safeship.core._notify",
    "notify_flush": "safeship.core._notify",
    "notify_status": "safeship.core._notify",
    "notify_test": "safeship.core._notify",
    "paths_status": "safeship.core._paths",
    "AnalysisFigures": "safeship.core._records",
    "DeployMode": "safeship.core._records",
    "DeployRequest": "safeship.core._records",
    "DeployResult": "safeship.core._records",
    "DeploymentSummary": "safeship.core._records",
    "EnvironmentStatus": "safeship.core._records",
    "Failover": "safeship.core._records",
    "HistoryQuery": "safeship.core._records",
    "MetricFigures": "safeship.core._records",
    "PathStatus": "safeship.core._records",
    "ReleaseStatus": "safeship.core._records",
    "ReleaseTraffic": "safeship.core._records",
    "RollbackResult": "safeship.core._records",
    "TrafficRow": "safeship.core._records",
    "analysis_figures": "safeship.core._records",
    "deployment_summary": "safeship.core._records",
    "traffic_rows": "safeship.core._records",
    "CheckResult": "safeship.health.base",
    "DeployRefused": "safeship.pipeline.deploy",
    "DeploymentOutcome": "safeship.pipeline.deploy",
    "Interrupted": "safeship.pipeline.deploy",
    "LiveSnapshot": "safeship.pipeline.deploy",
    "RequestRefused": "safeship.pipeline.requests",
    "Status": "safeship.pipeline.states",
    "TERMINAL": "safeship.pipeline.states",
    "DeploymentRecord": "safeship.registry",
    "EnvironmentBusy": "safeship.registry",
}


__getattr__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "TERMINAL",
    "AnalysisFigures",
    "BaselineRun",
    "ChannelTest",
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
    "OutboxStatus",
    "PathStatus",
    "ReleaseStatus",
    "ReleaseTraffic",
    "RequestRefused",
    "RollbackResult",
    "SnapshotRef",
    "Status",
    "TrafficRow",
    "UnknownChannel",
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
    "notify_flush",
    "notify_status",
    "notify_test",
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
