"""The gates' tables of safeship.toml, per environment::

    [environments.production]
    requires = ["staging"]        # the same version must have succeeded there first
    max_age = 604800.0            # ... no longer ago than this (seconds)

    [environments.production.gates.approval]
    required = 1                  # approvals by approvers (0: none, unless a gate asks)
    timeout = 14400.0             # seconds in awaiting_approval before the deploy is aborted
    allow_self = false            # may the requester approve their own deploy
    github_environment = ""       # GitHub environment whose required reviewers count

    [[environments.production.gates.freeze]]
    name = "year-end"
    start = "2026-12-20T00:00:00"  # a date window ...
    end = "2027-01-04T00:00:00"
    cron = ""                      # ... or a recurring one: starts at each cron time
    duration = 0.0                 # and lasts this long (seconds)
    timezone = "Europe/Berlin"

    [environments.production.gates.backup]
    enabled = true
    database_url = "DATABASE_URL"  # the environment's variable that holds the database URL
    keep = 10                      # backups kept per environment (older ones deleted)

    [environments.production.gates.migration]
    command = ["alembic", "upgrade", "head"]   # run with DATABASE_URL in its environment
    dry_run = true                 # first against a scratch copy restored from the backup

    [environments.production.gates.capacity]
    memory_mb = 256.0              # what the new release needs beside the serving one
    disk_mb = 512.0

    [environments.production.post_deploy]
    tag = "deploy/{environment}/{date}.{n}"    # an annotated git tag on the shipped commit

Each gate's module owns the meaning of its table (:mod:`safeship.gates.approval`, ...).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from safeship.settings_model import SettingsModel

Seconds = Annotated[float, Field(gt=0, le=366 * 86_400)]


class ApprovalSettings(SettingsModel):
    # Approvals (by distinct users with the approver role) a deployment needs before its
    # release starts; 0: none, unless another gate asks for one (a risky migration, an
    # override of a freeze window or of the chain).
    required: int = Field(default=0, ge=0, le=10)
    # Seconds a deployment waits in awaiting_approval; then it ends aborted.
    timeout: Seconds = 14_400.0
    # Whether the user who asked for the deploy may approve it.
    allow_self: bool = False
    # The protected GitHub environment a GitHub Actions job deploying here is bound to: its
    # required reviewers, read from GitHub (needs [github]), are recorded as approvals.
    github_environment: str = Field(default="", max_length=255)


class FreezeWindow(SettingsModel):
    name: str = Field(min_length=1, max_length=100)
    # A date window: from start to end (ISO 8601, in `timezone` when they carry no offset).
    start: str = ""
    end: str = ""
    # A recurring window: starts at each time the cron expression gives, lasts `duration`.
    cron: str = ""
    duration: float = Field(default=0.0, ge=0, le=366 * 86_400)
    timezone: str = "UTC"
    reason: str = Field(default="", max_length=500)


class BackupSettings(SettingsModel):
    # pg_dump the environment's PostgreSQL database before each deploy (docs/gates/backup.md).
    enabled: bool = False
    # The name of the environment's variable that holds the PostgreSQL URL.
    database_url: str = Field(default="DATABASE_URL", min_length=1, max_length=200)
    # Backups kept for the environment; older ones are deleted from the artifact store.
    keep: int = Field(default=10, ge=1, le=1000)
    # Seconds pg_dump may take.
    timeout: Seconds = 3600.0


class MigrationSettings(SettingsModel):
    # The migration command (argv), run in the project's directory with the database URL in
    # its environment (and the environment's variables); empty: none.
    command: list[str] = Field(default_factory=list, max_length=100)
    # Run it first against a scratch copy of the database (restored from the backup), measure
    # its duration and locks, and lint the schema change (the "migration" gate).
    dry_run: bool = True
    # The name of the environment's variable that holds the PostgreSQL URL.
    database_url: str = Field(default="DATABASE_URL", min_length=1, max_length=200)
    # Seconds the command may take (dry run and real run each).
    timeout: Seconds = 600.0
    # An ACCESS EXCLUSIVE lock held longer than this (seconds, in the dry run) blocks every
    # query on its table for that long: a finding that needs approval.
    max_lock_seconds: float = Field(default=2.0, gt=0, le=86_400)
    # When the migrations are a folder of .sql files (relative to the project's directory):
    # their text is linted too, so a finding names the file and statement.
    sql_dir: str = Field(default="", max_length=1000)


class CapacitySettings(SettingsModel):
    enabled: bool = False
    # What the new release needs, beside the serving one, on the target.
    memory_mb: float = Field(default=0.0, ge=0, le=16 * 1024 * 1024)
    disk_mb: float = Field(default=0.0, ge=0, le=1024 * 1024 * 1024)


class GatesSettings(SettingsModel):
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    freeze: list[FreezeWindow] = Field(default_factory=list, max_length=100)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    migration: MigrationSettings = Field(default_factory=MigrationSettings)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)


class PostDeploySettings(SettingsModel):
    # An annotated git tag on the shipped commit; empty: no tag.
    tag: str = Field(default="", max_length=200)
