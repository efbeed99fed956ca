"""The real migration (the "migrate" gate): the migration command against the serving database,
in the deploying stage, right before the new release starts.

Write-ahead: the runner records the gate's row before the command starts. A command that fails
fails the deployment before any release starts (the previous release keeps serving, against a
schema the dry run said it survives, or that an approver accepted). If safeship dies while the
command runs, or between its end and the release's start, the row stays unfinished and
``safeship recover`` marks it ``interrupted`` with :data:`INTERRUPTED_REASON`: the migration is
never reported as applied unless it was seen to finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeship.gates.base import GateContext, GateVerdict, failed, passed
from safeship.gates.migration import MigrationError, database_url, run_migration

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.gates.settings import MigrationSettings

INTERRUPTED_REASON = (
    "safeship stopped while the migration ran or before the release started: the migration "
    "may be half-applied; check the schema, or restore the backup taken before it "
    "(safeship backup list / safeship backup restore)"
)


@dataclass(frozen=True)
class MigrateGate:
    settings: MigrationSettings
    name: str = "migrate"
    # What the row says when the deploy is interrupted (Ctrl-C, SIGTERM) during the command.
    interrupted_reason: str = INTERRUPTED_REASON

    def check(self, context: GateContext) -> GateVerdict:
        settings = self.settings
        try:
            database = database_url(context, settings.database_url)
            run = run_migration(context, settings, database)
        except MigrationError as exc:
            return failed(str(exc))
        figures = {"seconds": round(run.seconds, 3), "exit_code": run.exit_code}
        if not run.ok:
            return failed(
                f"the migration failed ({run.failure(settings.timeout)}); no release was "
                "started: check the schema (a migration without a transaction may be "
                "half-applied)",
                **figures,
                output=list(run.output),
            )
        return passed(f"migration applied in {run.seconds:.1f} s", **figures)


def gate(settings: EnvironmentSettings) -> MigrateGate | None:
    migration = settings.gates.migration
    return MigrateGate(migration) if migration.command else None
