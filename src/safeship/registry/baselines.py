"""Baselines repository: each release's level-4 performance sample, per environment."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Final

from safeship.registry.errors import check_count, check_finite, check_fraction, check_text
from safeship.registry.records import ENVIRONMENT_LEN, VERSION_LEN, BaselineRecord
from safeship.registry.sql import Tx, db_id, db_time, to_optional_id, to_time

_FIELDS: Final = tuple(
    f.name for f in fields(BaselineRecord) if f.name not in ("deployment_id", "created_at")
)


PATH_LEN: Final = 255


def check(baseline: BaselineRecord) -> None:
    check_text("environment", baseline.environment, ENVIRONMENT_LEN)
    check_text("version", baseline.version, VERSION_LEN)
    check_text("path", baseline.path, PATH_LEN)
    check_count("sample_count", baseline.sample_count)
    check_count("errors", baseline.errors)
    check_fraction("error_rate", baseline.error_rate)
    for name in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "duration_s", "cpu_percent", "rss_mb"):
        check_finite(name, getattr(baseline, name))
    check_text("compared_with", baseline.compared_with, VERSION_LEN, required=False)


def insert(tx: Tx, baseline: BaselineRecord, created_at: datetime) -> None:
    values = {name: value for name, value in asdict(baseline).items() if name in _FIELDS}
    deployment = baseline.deployment_id
    tx.run(
        f"INSERT INTO baselines ({', '.join(_FIELDS)}, deployment_id, created_at) "
        f"VALUES ({', '.join(f':{name}' for name in _FIELDS)}, :deployment_id, :created_at)",
        {
            **values,
            "deployment_id": db_id(deployment) if deployment is not None else None,
            "created_at": db_time(tx, created_at),
        },
    )


def latest(tx: Tx, environment: str, version: str | None) -> BaselineRecord | None:
    """The newest baseline of ``environment`` (of ``version`` when given)."""
    where = "environment = :environment"
    params: dict[str, object] = {"environment": environment}
    if version is not None:
        where += " AND version = :version"
        params["version"] = version
    rows = tx.rows(
        f"SELECT {', '.join(_FIELDS)}, deployment_id, created_at FROM baselines "
        f"WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 1",
        params,
    )
    if not rows:
        return None
    row = rows[0]
    return BaselineRecord(
        **dict(zip(_FIELDS, row[:-2], strict=True)),
        deployment_id=to_optional_id(row[-2]),
        created_at=to_time(row[-1]),
    )
