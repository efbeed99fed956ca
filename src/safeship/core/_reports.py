"""The deployment report: rendered on demand (`safeship report`), and stored in the registry's
artifact store (``report.md``, ``report.json``) at the end of every deployment.

Storing is the core's, right after the pipeline returns (a deploy, a rollback, a recovery):
the pipeline sits below the core and the record is assembled here. It is best effort: a report
that cannot be written is one warning line, never a failed deploy nor a held rollback. Each
time, every finished deployment of the environment among the newest ones without a report gets
one, so a deployment closed by a recovery (or by a safeship that died before storing) has one
too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, TextIO

from safeship.config import LoadedConfig
from safeship.core._health import UsageError

if TYPE_CHECKING:
    from safeship.core._detail import DeploymentDetail
    from safeship.registry import DeploymentRecord, Registry

# The kinds a deployment's report is stored as, and the format each holds.
STORED_FORMATS: Final = {"md": "report.md", "json": "report.json"}
# How many of an environment's newest deployments are looked at for a missing report.
CATCH_UP: Final = 20


@dataclass(frozen=True)
class StoredReport:
    """A report as stored at the end of its deployment."""

    deployment_id: str
    format: str
    name: str  # the file name to save it as
    media_type: str
    text: str
    sha256: str
    created_at: datetime


def deployment_report(loaded: LoadedConfig, deployment: str, fmt: str) -> str:
    """The report of ``deployment`` (id or unique prefix) as it stands now, in ``fmt`` (md,
    json, html); UsageError for an unknown format or deployment."""
    from safeship.core._detail import deployment_detail
    from safeship.core._report_render import FORMATS, render

    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return render(deployment_detail(loaded, deployment), fmt)


def stored_report(loaded: LoadedConfig, deployment: str, fmt: str) -> StoredReport | None:
    """The report stored at the end of ``deployment`` (md or json), None when none was."""
    from safeship.core._logs import find_deployment
    from safeship.registry import Registry

    if fmt not in STORED_FORMATS:
        raise UsageError(f"stored reports are {' and '.join(STORED_FORMATS)}, not {fmt!r}")
    with Registry(loaded.registry_url()) as registry:
        record = find_deployment(registry, deployment)
        artifact = registry.artifacts.latest(record.id, STORED_FORMATS[fmt])
    if artifact is None:
        return None
    info = artifact.info
    return StoredReport(
        record.id, fmt, info.name, info.media_type, artifact.text(), info.sha256, info.created_at
    )


def report_name(detail: DeploymentDetail, fmt: str) -> str:
    """The file name a report is saved as: ``safeship-report-production-v2-1a2b3c4d.md``."""
    import re

    s = detail.summary
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"safeship-report-{s.environment}-{s.version}")
    return f"{stem[:200]}-{s.id[:8]}.{fmt}"


def store_report(registry: Registry, detail: DeploymentDetail) -> None:
    """Write ``detail``'s report as markdown and JSON, each replacing the one stored before."""
    from safeship.core._report_render import MEDIA_TYPES, render

    for fmt, kind in STORED_FORMATS.items():
        registry.artifacts.put(
            kind,
            report_name(detail, fmt),
            MEDIA_TYPES[fmt],
            render(detail, fmt).encode("utf-8"),
            deployment_id=detail.summary.id,
            replace=True,
        )


def store_reports(
    loaded: LoadedConfig,
    environment: str,
    *,
    also: Iterable[str] = (),
    errors: TextIO | None = None,
) -> int:
    """Store the report of each finished deployment of ``environment`` among its newest
    ``CATCH_UP`` that has none, and again of those in ``also`` (ids whose record changed, e.g.
    the deployment a `safeship rollback` reverted); how many were written. Never raises: a
    failure is one warning line on ``errors`` (stderr)."""
    from safeship.redaction import redact

    stream = errors or sys.stderr
    written = 0
    try:
        from safeship.core._detail import assemble, schema_secrets
        from safeship.registry import Registry

        forced = set(also)
        secrets = schema_secrets(loaded, environment)
        with Registry(loaded.registry_url()) as registry:
            for record in _needing_report(registry, environment, forced):
                try:
                    detail = assemble(registry, record, repo=loaded.base_dir, secret_keys=secrets)
                    store_report(registry, detail)
                    written += 1
                except Exception as exc:
                    print(
                        f"safeship: warning: the report of deployment {record.id[:8]} was not "
                        f"stored: {redact(_first_line(exc))}",
                        file=stream,
                    )
    except Exception as exc:
        print(
            f"safeship: warning: the deployment reports of {environment} were not stored: "
            f"{redact(_first_line(exc))}",
            file=stream,
        )
    return written


def _needing_report(
    registry: Registry, environment: str, forced: set[str]
) -> list[DeploymentRecord]:
    kind = STORED_FORMATS["json"]
    records = registry.history(environment, limit=CATCH_UP)
    found = {r.id for r in records}
    records += [r for r in (registry.get(i) for i in forced - found) if r is not None]
    return [
        r
        for r in records
        if r.is_terminal
        and (r.id in forced or not registry.artifacts.list(deployment_id=r.id, kind=kind, limit=1))
    ]


def serving_deployment(loaded: LoadedConfig, environment: str) -> str | None:
    """The id of ``environment``'s last successful deployment (what a rollback reverts: its
    report is stored again after), None when there is none or the registry cannot say."""
    from safeship.registry import Registry

    try:
        with Registry(loaded.registry_url()) as registry:
            record = registry.last_succeeded(environment)
    except Exception:  # the rollback itself reports a registry that cannot be read
        return None
    return record.id if record is not None else None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
