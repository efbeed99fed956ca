"""What the analytics read and write beside the deployments: marks on deployments (a
rollback marked a false alarm), the pre-push gate's runs, the deploy paths' CI runs, and the
facts of one period read in one transaction. ``Registry`` inherits these methods (see
``store``); the records and the SQL are ``analytics_queries``'s, imported on first use: every
command opens the registry, only the analytics read these.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from safeship.registry.errors import RegistryError, check_text, parse_id
from safeship.registry.records import (
    COMMIT_LEN,
    ENVIRONMENT_LEN,
    PATH_LEN,
    PERSON_LEN,
    VERSION_LEN,
)
from safeship.registry.repository import Repository
from safeship.registry.sql import db_id, db_json, db_time

if TYPE_CHECKING:
    from safeship.registry.analytics_queries import AnalyticsFacts, MarkRecord, PrepushVerdict


class AnalyticsRecords(Repository):
    """Marks, the gate's and CI's runs, and the facts of a period."""

    # -- marks -------------------------------------------------------------------------------

    def mark_deployment(
        self, deployment_id: str, mark: str, marked_by: str, reason: str | None = None
    ) -> MarkRecord:
        """Put ``mark`` on the deployment (again: the first mark stays, as it was)."""
        from safeship.registry import analytics_queries as q

        q.check_mark(mark)
        check_text("marked_by", marked_by, PERSON_LEN)
        check_text("reason", reason, None, required=False)
        now = self._now()
        with self._writing("mark deployment") as tx:
            key = q.require(tx, deployment_id)
            found = q.marks(tx, key, mark)
            if found:
                return found[0]
            tx.run(
                "INSERT INTO deployment_marks (deployment_id, mark, marked_by, marked_at, "
                "reason) VALUES (:id, :mark, :by, :at, :reason)",
                {"id": db_id(key), "mark": mark, "by": marked_by, "at": db_time(tx, now),
                 "reason": reason},
            )  # fmt: skip
            return q.marks(tx, key, mark)[0]

    def clear_mark(self, deployment_id: str, mark: str) -> bool:
        """Take ``mark`` off the deployment; False when it had none."""
        from safeship.registry import analytics_queries as q

        q.check_mark(mark)
        with self._writing("clear deployment mark") as tx:
            key = q.require(tx, deployment_id)
            removed = tx.run(
                "DELETE FROM deployment_marks WHERE deployment_id = :id AND mark = :mark",
                {"id": db_id(key), "mark": mark},
            )
        return removed > 0

    def deployment_marks(self, deployment_id: str) -> list[MarkRecord]:
        from safeship.registry import analytics_queries as q

        key = parse_id(deployment_id)
        if key is None:
            return []
        with self._reading("read deployment marks") as tx:
            return q.marks(tx, key, None)

    # -- the pre-push gate's runs and CI runs --------------------------------------------------

    def add_prepush_run(
        self,
        *,
        ran_at: datetime,
        repository: str,
        branch: str | None,
        commit_sha: str | None,
        verdict: PrepushVerdict,
        duration_seconds: float,
        failed_checks: Sequence[str] = (),
    ) -> None:
        from safeship.registry import analytics_queries as q

        if verdict not in ("passed", "blocked"):
            raise RegistryError(f"unknown pre-push verdict {verdict!r}")
        check_text("repository", repository, q.REPOSITORY_LEN)
        check_text("branch", branch, q.BRANCH_LEN, required=False)
        check_text("commit_sha", commit_sha, COMMIT_LEN, required=False)
        q.check_seconds("duration_seconds", duration_seconds)
        with self._writing("add pre-push run") as tx:
            tx.run(
                "INSERT INTO prepush_runs (ran_at, repository, branch, commit_sha, verdict, "
                "duration_seconds, failed_checks) VALUES (:at, :repository, :branch, :commit, "
                ":verdict, :seconds, :failed)",
                {"at": db_time(tx, ran_at), "repository": repository, "branch": branch,
                 "commit": commit_sha, "verdict": verdict, "seconds": duration_seconds,
                 "failed": db_json([str(name) for name in failed_checks])},
            )  # fmt: skip

    def record_ci_run(
        self,
        *,
        path: str,
        run_id: str,
        environment: str,
        version: str | None,
        completed_at: datetime,
        conclusion: str,
        started_at: datetime | None = None,
        deployment_id: str | None = None,
    ) -> None:
        """Record how a CI run ended (again for the same path and run: updated in place)."""
        from safeship.registry import analytics_queries as q

        check_text("path", path, PATH_LEN)
        check_text("run_id", run_id, q.RUN_ID_LEN)
        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("version", version, VERSION_LEN, required=False)
        check_text("conclusion", conclusion, q.CONCLUSION_LEN)
        duration = None
        if started_at is not None:
            duration = max(0.0, (completed_at - started_at).total_seconds())
        with self._writing("record CI run") as tx:
            key = None
            if deployment_id is not None:
                key = q.require(tx, deployment_id)
            values: dict[str, object] = {
                "path": path, "run_id": run_id, "environment": environment, "version": version,
                "deployment_id": db_id(key) if key else None,
                "started_at": db_time(tx, started_at),
                "completed_at": db_time(tx, completed_at),
                "conclusion": conclusion, "duration": duration,
            }  # fmt: skip
            changed = tx.run(
                "UPDATE ci_runs SET environment = :environment, version = :version, "
                "deployment_id = :deployment_id, started_at = :started_at, "
                "completed_at = :completed_at, conclusion = :conclusion, "
                "duration_seconds = :duration WHERE path = :path AND run_id = :run_id",
                values,
            )
            if not changed:
                tx.run(
                    "INSERT INTO ci_runs (path, run_id, environment, version, deployment_id, "
                    "started_at, completed_at, conclusion, duration_seconds) VALUES (:path, "
                    ":run_id, :environment, :version, :deployment_id, :started_at, "
                    ":completed_at, :conclusion, :duration)",
                    values,
                )

    # -- a period's facts ----------------------------------------------------------------------

    def analytics_facts(
        self, environments: Collection[str] | None, since: datetime, until: datetime
    ) -> AnalyticsFacts:
        """The facts of deployments started in [``since``, ``until``) in ``environments``
        (None: every environment), read in one transaction."""
        from safeship.registry import analytics_queries as q

        with self._reading("read analytics") as tx:
            if tx.dialect == "postgresql":
                # Times in UTC for this transaction: psycopg then gives datetime.UTC itself,
                # which the per-row conversions to UTC pass through for free.
                tx.run("SET LOCAL TIME ZONE 'UTC'")
            deployments = q.period_deployments(tx, environments, since, until)
            names = sorted({d.environment for d in deployments})
            return q.AnalyticsFacts(
                deployments=tuple(deployments),
                before=q.neighbours(tx, names, since, "before"),
                succeeded_before=q.neighbours(tx, names, since, "succeeded before"),
                recovered_after=q.neighbours(tx, names, until, "succeeded after"),
                rollback_triggered=q.rollbacks_started(tx, environments, since, until),
                false_alarms=q.marked(tx, "false-alarm", environments, since, until),
                ci_runs=tuple(q.ci_totals(tx, environments, since, until)),
                prepush=tuple(q.prepush_totals(tx, since, until)),
                latency=tuple(q.latency_by_version(tx, environments, since, until)),
            )
