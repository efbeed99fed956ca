"""The rollback plan (the "rollback_plan" gate): what a rollback of this deployment would do,
recorded before the approval gate so the approver (and later the report) sees it: the version
put back, whether the schema change is backward compatible (the migration dry run found
nothing that breaks the previous version), and the backup to restore when it is not.

It runs where a deployment changes a database (a migration or a backup is configured); it never
stops a deployment (its verdict is ``passed`` with the plan as its reason and figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safeship.gates.base import GateContext, GateVerdict, passed

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings


@dataclass(frozen=True)
class RollbackPlanGate:
    has_migration: bool
    name: str = "rollback_plan"

    def check(self, context: GateContext) -> GateVerdict:
        previous = context.stable_version
        findings: list[str] | None = context.facts.get("migration_findings")
        backup = context.facts.get("backup")
        stored_id = getattr(backup, "id", None)  # a StoredFile (safeship.artifacts)
        backup_id = None if stored_id is None else str(stored_id)
        # True: nothing found; False: findings; None: a migration runs without a dry run.
        compatible: bool | None
        if not self.has_migration:
            compatible = True
        elif findings is None:
            compatible = None
        else:
            compatible = not findings
        figures: dict[str, Any] = {
            "previous_version": previous,
            "schema_compatible": compatible,
            "backup": backup_id,
            "findings": len(findings or []),
        }
        text = plan_text(context.environment, previous, compatible, backup_id, self.has_migration)
        return passed(text, **figures)


def plan_text(
    environment: str,
    previous: str | None,
    compatible: bool | None,
    backup: str | None,
    has_migration: bool = True,
) -> str:
    """The plan in one line."""
    if previous is None:
        code = f"nothing to put back (the first release of {environment})"
    else:
        code = f"`safeship rollback {environment}` puts {previous} back"
    if not has_migration:
        kept = f" (backup {backup} taken)" if backup else ""
        return f"{code}; no migration runs with this deploy{kept}"
    if compatible:
        return f"{code}; the schema change is backward compatible"
    why = "not backward compatible" if compatible is False else "not checked (no dry run)"
    if backup is None:
        return f"{code}; the schema change is {why} and no backup is taken: restore by hand"
    return (
        f"{code}; the schema change is {why}: restore backup {backup} first "
        f"(safeship backup restore {backup} --to URL)"
    )


def gate(settings: EnvironmentSettings) -> RollbackPlanGate | None:
    has_migration = bool(settings.gates.migration.command)
    if not has_migration and not settings.gates.backup.enabled:
        return None
    return RollbackPlanGate(has_migration)
