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
    timezone = "Europe/Berlin"     # of naive times and of cron
    start = "2026-12-20T00:00:00"  # a date window ...
    end = "2027-01-04T00:00:00"
    reason = "holidays"

    [[environments.production.gates.freeze]]
    name = "weekend"
    cron = "0 18 * * 5"            # ... or a recurring one: starts at each cron time
    duration = 216000.0            # and lasts this long (seconds)

    [environments.production.gates.backup]
    enabled = true
    database_url = "DATABASE_URL"  # the environment's variable that holds the database URL
    keep = 10                      # backups kept per environment (older ones deleted)

    [environments.production.gates.migration]
    command = ["alembic", "upgrade", "head"]   # run with DATABASE_URL in its environment
    dry_run = true                 # first against a scratch copy restored from the backup
    max_lock_seconds = 2.0         # ACCESS EXCLUSIVE held longer (in the dry run) needs approval
    sql_dir = "migrations"         # .sql files linted too (findings name file and statement)

    [environments.production.gates.capacity]
    enabled = true
    memory_mb = 256.0              # what the new release needs beside the serving one
    disk_mb = 512.0                # (memory 0: what the serving release uses now)
    min_free_memory_mb = 64.0      # and what must stay free beside it
    min_free_disk_mb = 100.0

    [environments.production.post_deploy]     # after a deploy that succeeded
    tag = "deploy/{environment}/{date}.{n}"    # an annotated git tag on the shipped commit
    remote = "origin"                          # pushed there (push = true)
    signing_key = ""                           # a GPG key id: the tag is signed
    artifacts = ["dist/*.whl", "sbom.json"]    # copied to the artifact store, with report.md
    notify = true                              # a deployment.released alert for stakeholders

Each gate's module owns the meaning of its table (:mod:`safeship.gates.approval`, ...);
:mod:`safeship.postdeploy` owns ``post_deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Final

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from safeship.settings_model import SettingsModel

Seconds = Annotated[float, Field(gt=0, le=366 * 86_400)]


def zone_of(name: str) -> tzinfo:
    """The IANA time zone ``name`` (``Europe/Berlin``); ValueError (one line) when unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory
        raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)") from None


def parse_time(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 date or date and time; one without an offset is read in ``zone``."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-12-20 or 2026-12-20T18:00)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def check_cron(expression: str) -> None:
    """ValueError (one line) unless ``expression`` is a 5-field cron expression that matches
    some time. croniter is imported here, only when a recurring window is configured (it
    costs some 20-60 ms)."""
    from croniter import CroniterBadDateError, croniter

    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValueError(
            f"{expression!r} is not a cron expression of 5 fields "
            "(minute hour day-of-month month day-of-week, e.g. '0 18 * * 5')"
        )
    try:  # 5 fields have no year: one that matches once matches again, in every year
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"{expression!r} never matches (a day the month does not have)") from None


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
    """A time in which deploys to the environment are refused (see safeship.gates.freeze)."""

    name: str = Field(min_length=1, max_length=100)
    # The IANA time zone the window's times are in (its naive dates, its cron expression).
    timezone: str = Field(default="UTC", min_length=1, max_length=100)
    # A date window: from start to end (ISO 8601, in `timezone` when they carry no offset).
    start: str = Field(default="", max_length=64)
    # The first moment after the window (a deploy at `end` is no longer frozen).
    end: str = Field(default="", max_length=64)
    # A recurring window: starts at each time the cron expression (5 fields: minute hour
    # day-of-month month day-of-week) gives in `timezone`, and lasts `duration` seconds.
    cron: str = Field(default="", max_length=200)
    # Seconds a recurring window lasts from each start: elapsed time, also across a DST change.
    duration: float = Field(default=0.0, ge=0, le=366 * 86_400)
    # Why (shown with the refusal: "frozen by 'year-end' until ... (holidays)").
    reason: str = Field(default="", max_length=500)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        zone_of(timezone)
        return timezone

    @field_validator("start")
    @classmethod
    def _iso_8601(cls, text: str) -> str:
        if text:
            parse_time(text, UTC)
        return text

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: str, info: ValidationInfo) -> str:
        if not end:
            return end
        start, timezone = info.data.get("start"), info.data.get("timezone")
        if start and timezone:  # both valid (a field that failed is not in info.data)
            zone = zone_of(timezone)
            if parse_time(end, zone) <= parse_time(start, zone):
                raise ValueError(f"end {end} is not after start {start}")
        else:
            parse_time(end, UTC)
        return end

    @field_validator("cron")
    @classmethod
    def _five_field_cron(cls, cron: str) -> str:
        if cron:
            check_cron(cron)
        return cron

    @model_validator(mode="after")
    def _dates_or_cron(self) -> FreezeWindow:
        dates = bool(self.start or self.end)
        if dates and self.cron:
            raise ValueError(
                f"freeze window {self.name!r}: give either start and end, or cron and duration"
            )
        if not dates and not self.cron:
            raise ValueError(
                f"freeze window {self.name!r}: needs start and end (a date window) or cron and "
                "duration (a recurring one)"
            )
        if dates:
            if not (self.start and self.end):
                raise ValueError(f"freeze window {self.name!r}: needs both start and end")
            if self.duration:
                raise ValueError(
                    f"freeze window {self.name!r}: duration is for a recurring (cron) window"
                )
        elif not self.duration:
            raise ValueError(
                f"freeze window {self.name!r}: a recurring window needs a duration (seconds)"
            )
        return self

    def zone(self) -> tzinfo:
        return zone_of(self.timezone)

    def bounds(self) -> tuple[datetime, datetime]:
        """A date window's start and end, as aware datetimes (naive ones in ``timezone``)."""
        zone = self.zone()
        return parse_time(self.start, zone), parse_time(self.end, zone)


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
    """The capacity gate: room on the target's host for the new release beside the serving
    one (see safeship.gates.capacity)."""

    # Check the target's free memory and disk before each release starts.
    enabled: bool = False
    # What the new release needs; memory 0: as much as the serving release uses now (its
    # resident memory), the best estimate of a new version of it.
    memory_mb: float = Field(default=0.0, ge=0, le=16 * 1024 * 1024)
    # Disk the new release needs where releases run (the local target: its run directory).
    disk_mb: float = Field(default=0.0, ge=0, le=1024 * 1024 * 1024)
    # Memory that must stay free beside the new release, for the host itself.
    min_free_memory_mb: float = Field(default=64.0, ge=0, le=16 * 1024 * 1024)
    # Disk that must stay free beside it.
    min_free_disk_mb: float = Field(default=100.0, ge=0, le=1024 * 1024 * 1024)


class GatesSettings(SettingsModel):
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    freeze: list[FreezeWindow] = Field(default_factory=list, max_length=100)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    migration: MigrationSettings = Field(default_factory=MigrationSettings)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)


# The placeholders of the tag's name (docs/gates/after-deploy.md): what each stands for.
TAG_PLACEHOLDERS: Final = {
    "environment": "the environment's name",
    "version": "the version deployed",
    "date": "the day the deployment ended (UTC, YYYY-MM-DD)",
    "n": "the next number free for the rest of the name (1, 2, ...)",
    "commit": "the shipped commit's first 12 characters",
}
# The values a pattern is checked with when the config is loaded: each a valid ref component,
# so a name that breaks git's rules does so by the pattern's own text.
_SAMPLE_VALUES: Final = {
    "environment": "production",
    "version": "v1",
    "date": "2026-01-01",
    "n": "1",
    "commit": "0123456789ab",
}
# Characters git refuses anywhere in a ref name (git check-ref-format, rules 4, 5 and 10).
_REF_FORBIDDEN: Final = frozenset(" ~^:?*[\\")
# Bounds of the artifacts step: files copied per deployment, and their total size.
MAX_ARTIFACT_FILES: Final = 1000
MAX_ARTIFACT_MB: Final = 100 * 1024


def tag_fields(pattern: str) -> list[str]:
    """The placeholders ``pattern`` uses, in order; ValueError (one line) for an unknown one,
    a format spec (``{n:03}``), or an unbalanced brace."""
    import string

    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(
            f"tag {pattern!r}: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    fields = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TAG_PLACEHOLDERS:
            known = ", ".join(f"{{{k}}}" for k in TAG_PLACEHOLDERS)
            raise ValueError(f"tag {pattern!r}: unknown placeholder {{{name}}}; known: {known}")
        if spec or conversion:
            raise ValueError(f"tag {pattern!r}: {{{name}}} takes no format or conversion")
        fields.append(name)
    return fields


def ref_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a tag's name by git's rules (git check-ref-format, for
    refs/tags/<name>), None when it can."""
    if not name:
        return "it is empty"
    if name.startswith("-"):
        return "it begins with '-'"
    bad = sorted({c for c in name if c in _REF_FORBIDDEN or ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        return f"it contains {', '.join(repr(c) for c in bad)}"
    if name == "@" or "@{" in name:
        return "it contains '@{' or is '@'"
    if ".." in name:
        return "it contains '..'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "it begins or ends with '/', or has '//'"
    if name.endswith("."):
        return "it ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"its part {part!r} begins with '.'"
        if part.endswith(".lock"):
            return f"its part {part!r} ends with '.lock'"
    return None


def _check_tag(pattern: str) -> str:
    if not pattern:
        return pattern
    fields = tag_fields(pattern)
    problem = ref_name_problem(pattern.format(**_SAMPLE_VALUES))
    if problem is not None:
        raise ValueError(f"tag {pattern!r} is not a valid git tag name: {problem}")
    if (
        "version" not in fields
        and "date" not in fields
        and "commit" not in fields
        and ("n" not in fields)
    ):
        raise ValueError(
            f"tag {pattern!r} names every deployment the same: use {{version}}, {{date}}, "
            "{commit} or {n}"
        )
    return pattern


def _check_glob(pattern: str) -> str:
    from pathlib import PurePosixPath

    if not pattern.strip():
        raise ValueError("an artifact pattern must not be empty")
    path = PurePosixPath(pattern.replace("\\", "/"))
    if path.is_absolute() or pattern[1:3] == ":/" or ".." in path.parts:
        raise ValueError(
            f"artifact {pattern!r} must be a path under the project directory (no '/' at the "
            "start, no '..')"
        )
    return pattern


def _git_argument(what: str) -> Callable[[str], str]:
    """A value given to git as one argument: no spaces nor control characters, and no leading
    '-' (git would read an option)."""

    def check(value: str) -> str:
        if value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError(f"{what} {value!r}: no spaces, and no '-' at the start")
        return value

    return check


class PostDeploySettings(SettingsModel):
    # An annotated git tag on the shipped commit, e.g. "deploy/{environment}/{date}.{n}";
    # empty: no tag. Placeholders: {environment}, {version}, {date} (UTC YYYY-MM-DD), {n}
    # (the next number free for that name), {commit} (12 characters).
    tag: Annotated[str, AfterValidator(_check_tag)] = Field(default="", max_length=200)
    # The git remote the tag is pushed to (when push is true).
    remote: Annotated[str, AfterValidator(_git_argument("remote"))] = Field(
        default="origin", min_length=1, max_length=200
    )
    # Push the tag to remote (a failed push keeps it in the local repository, with a warning).
    push: bool = True
    # A GPG key id: the tag is signed with it (git tag -s -u KEY); empty: not signed.
    signing_key: Annotated[str, AfterValidator(_git_argument("signing_key"))] = Field(
        default="", max_length=200
    )
    # Files copied to the artifact store after a successful deploy, with the deployment's
    # report.md: glob patterns under the project directory ("dist/*.whl", "sbom.json").
    artifacts: list[Annotated[str, AfterValidator(_check_glob)]] = Field(
        default_factory=list, max_length=100
    )
    # At most this many files match the artifacts' patterns (else none is copied).
    max_files: int = Field(default=100, ge=1, le=MAX_ARTIFACT_FILES)
    # The matched files' size together, in megabytes, at most (else none is copied).
    max_mb: float = Field(default=1024.0, gt=0, le=MAX_ARTIFACT_MB)
    # Announce the release: a deployment.released event, an alert of its own condition
    # ([alerts] routes can send it to the stakeholders' channel).
    notify: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.tag or self.artifacts or self.notify)
