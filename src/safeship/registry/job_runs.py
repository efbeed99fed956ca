"""Job runs repository: a background job's run claimed for a key, so that of several
processes sharing the registry one runs it (the daily drift check of an environment).

Claiming is one transaction: insert the (job, key) row, or take over one whose holder never
finished it within ``stale_after`` seconds (killed mid-run), else refuse. SQLite's BEGIN
IMMEDIATE excludes every other writer; on PostgreSQL a transaction-level advisory lock per
(job, key) serialises the claimers, so two that both find no row cannot both insert one.
``Registry`` inherits the methods (see ``store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from safeship.registry.errors import check_text
from safeship.registry.repository import Repository
from safeship.registry.sql import Tx, advisory_lock, db_time, to_optional_time, to_time

JOB_LEN = 64
RUN_KEY_LEN = 255
HOLDER_LEN = 255


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    run_key: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool | None
    error: str | None


_COLUMNS = "job, run_key, holder, started_at, finished_at, ok, error"


def claim(tx: Tx, job: str, run_key: str, holder: str, now: datetime, stale_after: float) -> bool:
    advisory_lock(tx, f"job/{job}/{run_key}")
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    rows = tx.rows(
        f"SELECT finished_at, started_at FROM job_runs WHERE job = :job AND run_key = :key{lock}",
        {"job": job, "key": run_key},
    )
    values = {"job": job, "key": run_key, "holder": holder, "now": db_time(tx, now)}
    if not rows:
        tx.run(
            f"INSERT INTO job_runs ({_COLUMNS}) VALUES "
            "(:job, :key, :holder, :now, NULL, NULL, NULL)",
            values,
        )
        return True
    finished, started = rows[0]
    if finished is not None or to_time(started) > now - timedelta(seconds=stale_after):
        return False
    tx.run(
        "UPDATE job_runs SET holder = :holder, started_at = :now, finished_at = NULL, "
        "ok = NULL, error = NULL WHERE job = :job AND run_key = :key",
        values,
    )
    return True


def finish(
    tx: Tx, job: str, run_key: str, holder: str, now: datetime, ok: bool, error: str | None
) -> bool:
    return bool(
        tx.run(
            "UPDATE job_runs SET finished_at = :now, ok = :ok, error = :error "
            "WHERE job = :job AND run_key = :key AND holder = :holder",
            {
                "job": job,
                "key": run_key,
                "holder": holder,
                "now": db_time(tx, now),
                "ok": ok,
                "error": error,
            },
        )
    )


def get(tx: Tx, job: str, run_key: str) -> JobRun | None:
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM job_runs WHERE job = :job AND run_key = :key",
        {"job": job, "key": run_key},
    )
    if not rows:
        return None
    row = rows[0]
    ok = None if row[5] is None else bool(row[5])
    return JobRun(row[0], row[1], row[2], to_time(row[3]), to_optional_time(row[4]), ok, row[6])


class JobRunRecords(Repository):
    """Claim and finish a background job's run; read one."""

    def claim_job_run(
        self, job: str, run_key: str, holder: str, *, stale_after: float = 3600.0
    ) -> bool:
        """Whether ``holder`` now holds the run (job, run_key): True when no process claimed
        it yet, or its claimer did not finish it within ``stale_after`` seconds."""
        check_text("job", job, JOB_LEN)
        check_text("run_key", run_key, RUN_KEY_LEN)
        check_text("holder", holder, HOLDER_LEN)
        now = self._now()
        with self._writing("claim a job run") as tx:
            return claim(tx, job, run_key, holder, now, stale_after)

    def finish_job_run(
        self, job: str, run_key: str, holder: str, *, ok: bool, error: str | None = None
    ) -> bool:
        """Record how ``holder``'s run went; False when the run is no longer its own."""
        now = self._now()
        with self._writing("finish a job run") as tx:
            return finish(tx, job, run_key, holder, now, ok, error)

    def job_run(self, job: str, run_key: str) -> JobRun | None:
        with self._reading("read a job run") as tx:
            return get(tx, job, run_key)
