"""The migration dry run (the "migration" gate): the configured migration command runs first
against a scratch copy of the database, restored from the backup into a temporary database on
the same server and dropped afterwards.

Measured: the command's duration and the locks it took (``pg_locks`` sampled from a second
connection every ~50 ms: per table the strongest mode, and about how long ACCESS EXCLUSIVE was
held). The schema before and after is compared by :mod:`safeship.gates.migration_lint`; what
would break a rollback of the code goes to ``context.needs_approval`` (the approval gate then
waits) and the gate's figures. A command that fails here fails the deployment: the real
migration never runs and the serving database is not touched.

The command runner is shared with the real migration (:mod:`safeship.gates.migrate`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from safeship.gates.base import GateContext, GateVerdict, failed, passed
from safeship.registry.errors import first_line

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.gates.migration_lint import Finding
    from safeship.gates.postgres import DatabaseURL
    from safeship.gates.settings import MigrationSettings

# The command's last output lines kept (in the figures) when it fails.
OUTPUT_LINES = 50
# Seconds between two samples of pg_locks.
SAMPLE_INTERVAL = 0.05
# Seconds a command is given to exit after SIGTERM (timeout, Ctrl-C) before SIGKILL.
_KILL_GRACE = 5.0

# A line of output that says what went wrong.
_ERROR_LINE = re.compile(r"(?i)error|fatal|exception|failed")

# PostgreSQL's table lock modes, weakest first.
LOCK_MODES: tuple[str, ...] = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

# The table locks other sessions hold in the database the sampler is connected to (a table
# created by the migration's open transaction is invisible here, and blocks nobody).
_LOCKS_QUERY = """
SELECT n.nspname || '.' || c.relname, l.mode
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.granted
  AND a.datname = current_database() AND l.pid <> pg_backend_pid()
  AND c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
"""


class MigrationError(Exception):
    """The migration cannot run (no database URL, the command not found); one line."""


@dataclass(frozen=True)
class MigrationRun:
    exit_code: int | None  # None: killed after its timeout
    seconds: float
    output: tuple[str, ...]  # its last lines (stdout and stderr), unredacted

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def failure(self, timeout: float) -> str:
        """Why it failed, one line: the exit code (or timeout) and its last output line."""
        if self.exit_code is None:
            why = f"timed out after {timeout:g} s"
        elif self.exit_code < 0:
            why = f"killed by signal {-self.exit_code}"
        else:
            why = f"exit code {self.exit_code}"
        lines = [line.strip() for line in self.output if line.strip()]
        # The error's own line (a traceback's last, a tool's "Error: ..."), not what follows it
        # (psycopg's "LINE 1: ..." and its caret).
        errors = [line for line in lines if _ERROR_LINE.search(line)]
        last = errors[-1] if errors else lines[-1] if lines else ""
        return f"{why}: {last}" if last else why


def database_url(context: GateContext, variable: str) -> DatabaseURL:
    """The environment's database URL, from its variable ``variable``, checked (its password
    registered as a secret: the command's output may print it)."""
    from safeship.gates.backup import BackupError
    from safeship.gates.backup import database_url as checked_url

    try:
        return checked_url(context.target.variables(), variable)
    except BackupError as exc:
        raise MigrationError(str(exc)) from None


def run_migration(
    context: GateContext, settings: MigrationSettings, database: DatabaseURL
) -> MigrationRun:
    """Run the migration command in the project's directory with the environment's variables
    and ``database`` as the database URL variable, bounded by its timeout."""
    env = command_environment(environment_variables(context), settings, database)
    return run_command(settings.command, env, context.loaded.base_dir, settings.timeout)


def environment_variables(context: GateContext) -> dict[str, str]:
    try:
        return context.target.variables()
    except Exception:  # the URL came from them a moment ago; the rest are a courtesy
        return {}


def command_environment(
    variables: Mapping[str, str], settings: MigrationSettings, database: DatabaseURL
) -> dict[str, str]:
    """The command's environment: ours, the environment's variables, and the database URL."""
    return {**os.environ, **variables, settings.database_url: database.url}


def run_command(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> MigrationRun:
    """``command`` in its own process group (a timeout or Ctrl-C stops all it started), its
    output in a private temporary file of which the last lines are kept."""
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise MigrationError(
                f"the migration command {command[0]!r} cannot be started: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
        try:
            exit_code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            exit_code = None
        except BaseException:
            _stop(proc)  # Ctrl-C: the migration does not go on without us
            raise
        seconds = time.monotonic() - started
        log.seek(0)
        tail = deque(
            (raw.decode("utf-8", "replace").rstrip("\n") for raw in log), maxlen=OUTPUT_LINES
        )
    return MigrationRun(exit_code, seconds, tuple(tail))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what it started, too
    proc.wait()


@dataclass
class LockSampler:
    """Samples the table locks other sessions hold in the database at ``url`` from its own
    connection and thread, every ``interval`` seconds, until the ``with`` block ends."""

    url: str
    interval: float = SAMPLE_INTERVAL
    strongest: dict[str, str] = field(default_factory=dict)  # table -> its strongest mode
    exclusive_seconds: dict[str, float] = field(default_factory=dict)  # about how long
    samples: int = 0
    error: str | None = None  # why sampling stopped early (the figures are partial)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> LockSampler:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:  # measuring is best effort: the migration goes on
            self.error = first_line(exc)
            return self
        # The first sample is taken before the command starts: nothing is held yet.
        self._thread = threading.Thread(
            target=self._sample, args=(conn,), name="safeship-lock-sampler", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _sample(self, conn: Any) -> None:
        with conn:
            previous = time.monotonic()
            while True:
                try:
                    rows = conn.execute(_LOCKS_QUERY).fetchall()
                except Exception as exc:  # measuring is best effort: the migration goes on
                    self.error = first_line(exc)
                    return
                now = time.monotonic()
                self.samples += 1
                held: set[str] = set()
                for table, mode in rows:
                    known = self.strongest.get(table)
                    if known is None or _strength(mode) > _strength(known):
                        self.strongest[table] = mode
                    if mode == "AccessExclusiveLock":
                        held.add(table)
                for table in held:
                    # Held since about the previous sample (at most one interval late).
                    self.exclusive_seconds[table] = (
                        self.exclusive_seconds.get(table, 0.0) + now - previous
                    )
                previous = now
                if self._stop.wait(self.interval):
                    return

    def figures(self) -> dict[str, Any]:
        return {
            table: {
                "mode": mode,
                "access_exclusive_seconds": round(self.exclusive_seconds.get(table, 0.0), 3),
            }
            for table, mode in sorted(self.strongest.items())
        }


def _strength(mode: str) -> int:
    return LOCK_MODES.index(mode) if mode in LOCK_MODES else -1


@dataclass(frozen=True)
class DryRun:
    run: MigrationRun
    locks: LockSampler
    findings: list[Finding]
    restored_from: str  # "backup" (the backup gate's dump) or "dump" (made for the dry run)


@dataclass(frozen=True)
class MigrationGate:
    settings: MigrationSettings
    name: str = "migration"

    def check(self, context: GateContext) -> GateVerdict:
        import psycopg

        from safeship.gates.postgres import DatabaseToolError

        try:
            database = database_url(context, self.settings.database_url)
            dry = self.dry_run(context, database)
        except MigrationError as exc:
            return failed(str(exc))
        except DatabaseToolError as exc:
            return failed(f"the dry run could not prepare its scratch copy: {exc}")
        except psycopg.Error as exc:
            return failed(f"the dry run could not read the scratch copy: {first_line(exc)}")
        run = dry.run
        figures: dict[str, Any] = {
            "seconds": round(run.seconds, 3),
            "exit_code": run.exit_code,
            "restored_from": dry.restored_from,
            "locks": dry.locks.figures(),
            "lock_samples": dry.locks.samples,
        }
        if dry.locks.error:
            figures["lock_sampling_error"] = dry.locks.error
        if not run.ok:
            return failed(
                f"the migration failed in the dry run ({run.failure(self.settings.timeout)}); "
                "the real migration did not run",
                **figures,
                output=list(run.output),
            )
        lines = [f.line for f in dry.findings]
        context.needs_approval.extend(f"migration: {line}" for line in lines)
        context.facts["migration_findings"] = lines
        figures["findings"] = lines
        took = f"dry run took {run.seconds:.1f} s"
        if not lines:
            return passed(f"{took}; the schema change is backward compatible", **figures)
        count = "1 finding needs" if len(lines) == 1 else f"{len(lines)} findings need"
        return passed(f"{took}; {count} approval: {lines[0]}", **figures)

    def dry_run(self, context: GateContext, database: DatabaseURL) -> DryRun:
        backup_path = context.facts.get("backup_path")
        return dry_run(
            database,
            self.settings,
            project_dir=context.loaded.base_dir,
            variables=environment_variables(context),
            backup_path=Path(backup_path) if backup_path is not None else None,
        )


def dry_run(
    database: DatabaseURL,
    settings: MigrationSettings,
    *,
    project_dir: Path,
    variables: Mapping[str, str] | None = None,
    backup_path: Path | None = None,
) -> DryRun:
    """The migration command against a scratch copy of ``database`` (restored from
    ``backup_path``, else from a dump made now), its locks sampled, the schema change linted;
    the scratch database is dropped afterwards. Raises DatabaseToolError when the copy cannot
    be made, MigrationError when the command cannot start."""
    import psycopg

    from safeship.gates import postgres
    from safeship.gates.migration_lint import (
        Finding,
        locate,
        lock_findings,
        read_schema,
        schema_findings,
        sql_statements,
    )

    with tempfile.TemporaryDirectory(prefix="safeship-dry-run-") as tmp:
        restored_from = "backup"
        if backup_path is None:
            backup_path = Path(tmp) / "database.dump"
            postgres.dump(database, backup_path, settings.timeout)
            restored_from = "dump"
        with postgres.scratch_database(database) as scratch:
            postgres.restore(backup_path, scratch, settings.timeout)
            with psycopg.connect(scratch.url, autocommit=True) as conn:
                before = read_schema(conn)
            env = command_environment(variables or {}, settings, scratch)
            with LockSampler(scratch.url) as locks:
                run = run_command(settings.command, env, project_dir, settings.timeout)
            if not run.ok:
                return DryRun(run, locks, [], restored_from)
            with psycopg.connect(scratch.url, autocommit=True) as conn:
                after = read_schema(conn)
    findings = schema_findings(before, after)
    if settings.sql_dir:
        try:
            statements = sql_statements(project_dir / settings.sql_dir)
        except (OSError, ValueError) as exc:
            text = f"the SQL files could not be linted: {exc}"
            findings.append(Finding("unlinted", settings.sql_dir, None, text))
        else:
            findings = locate(findings, statements)
    findings += lock_findings(locks.exclusive_seconds, settings.max_lock_seconds)
    return DryRun(run, locks, findings, restored_from)


def gate(settings: EnvironmentSettings) -> MigrationGate | None:
    migration = settings.gates.migration
    if not migration.command or not migration.dry_run:
        return None
    return MigrationGate(migration)
