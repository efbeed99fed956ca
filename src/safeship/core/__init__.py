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
    from safeship.core._logs import LogEntry, LogQuery, deployment_log, parse_since
    from safeship.core._metrics import MetricsServer, metrics_exposition, serve_metrics
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
    from safeship.core._watch import parse_duration_seconds, watch
    from safeship.health.base import CheckResult
    from safeship.pipeline.deploy import (
        DeploymentOutcome,
        DeployRefused,
        Interrupted,
        LiveSnapshot,
    )
    from safeship.pipeline.requests import RequestRefused
    from safeship.pipeline.states import TERMINAL, Status
    from safeship.pipeline.watch import WatchReport
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
    "MetricsServer": "safeship.core._metrics",
    "metrics_exposition": "safeship.core._metrics",
    "serve_metrics": "safeship.core._metrics",
    "LogEntry": "safeship.core._logs",
    "LogQuery": "safeship.core._logs",
    "deployment_log": "safeship.core._logs",
    "parse_since": "safeship.core._logs",
    "paths_status": "safeship.core._paths",
    "parse_duration_seconds": "safeship.core._watch",
    "watch": "safeship.core._watch",
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
    "WatchReport": "safeship.pipeline.watch",
    "DeploymentRecord": "safeship.registry",
    "EnvironmentBusy": "safeship.registry",
}


__getattr__ = lazy_exports(__name__, _LAZY, globals())


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
    "LogEntry",
    "LogQuery",
    "MetricFigures",
    "MetricsServer",
    "PathStatus",
    "ReleaseStatus",
    "ReleaseTraffic",
    "RequestRefused",
    "RollbackResult",
    "SnapshotRef",
    "Status",
    "TrafficRow",
    "UsageError",
    "WatchReport",
    "abort",
    "abort_running",
    "analysis_figures",
    "baseline",
    "check_service",
    "config_problems",
    "deploy",
    "deploy_mode",
    "deploy_result",
    "deployment_log",
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
    "metrics_exposition",
    "optional_schema",
    "parse_duration_seconds",
    "parse_since",
    "paths_status",
    "promote",
    "recover",
    "rollback",
    "serve_metrics",
    "smoke",
    "status",
    "traffic_rows",
    "up",
    "watch",
]
