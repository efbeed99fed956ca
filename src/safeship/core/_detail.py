"""A deployment in full: the one record that says everything about it (``DeploymentDetail``).

The deployment's page (the dashboard), its report (`safeship report`, and the report stored at
the end of every deployment) and the API all read this record: summary, timeline of its
events, checks, each canary step with the judge's figures, the rollback rule and figures, the
environment's changes since the last good deployment, the commits it shipped, who triggered and
who approved, the gates before its release (each verdict, reason and key figures), and the
rollback plan. No secret value is ever in it: the events are stored
redacted, env changes show a secret variable's key only (the env schema and the snapshots say
which are secret), and every text is redacted once more on the way in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeship.analytics.git_history import CommitShipped
from safeship.config import LoadedConfig
from safeship.core._records import AnalysisFigures, DeploymentSummary

if TYPE_CHECKING:
    from safeship.registry import DeploymentRecord, Registry
    from safeship.registry.gate_rows import GateResult
    from safeship.registry.records import EnvSnapshotRecord, StepResult

__all__ = [
    "CheckFigure",
    "CommitShipped",
    "DeploymentDetail",
    "EnvChange",
    "GateFigures",
    "ReleasedArtifact",
    "RollbackPlan",
    "StepFigures",
    "TimelineEntry",
    "deployment_detail",
]

# The most commits a report lists (a deployment after months shows the newest ones).
MAX_COMMITS = 200
# What the summary's stored record holds that the record gives interpreted (steps, checks).
_GIVEN_BELOW = frozenset({"steps", "checks"})
# The env snapshots read to find the two a deployment's changes are between.
SNAPSHOTS_READ = 200
# The longest a gate's figure is shown in a report (the JSON has it whole).
FIGURE_CHARS = 400
# A gate's figures shown apart from its key figures: the command's last output lines.
_OUTPUT = "output"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    name: str  # the event's name, e.g. "deployment.started", "traffic.shifted"
    text: str  # one line a person reads
    attributes: Mapping[str, Any]  # never a secret value


@dataclass(frozen=True)
class CheckFigure:
    """One health/verification check as run for this deployment."""

    name: str
    level: str | None  # basic, deep, smoke, baseline
    status: str
    duration_ms: float | None
    detail: str


@dataclass(frozen=True)
class StepFigures:
    """One canary step: the judge's figures, canary against stable."""

    weight: int
    verdict: str | None
    at: datetime | None
    analysis: AnalysisFigures
    canary_error_rate: float | None
    stable_error_rate: float | None
    canary_latency_ms: float | None
    stable_latency_ms: float | None
    canary_requests: int | None
    stable_requests: int | None


@dataclass(frozen=True)
class EnvChange:
    key: str
    change: str  # "added" | "removed" | "changed"
    secret: bool
    before: str | None  # None for a secret (never shown), or not applicable
    after: str | None


@dataclass(frozen=True)
class GateFigures:
    """One gate before the release (the chain, a backup, the migration dry run, the rollback
    plan, approval, the real migration): its verdict, why, and what it measured."""

    gate: str
    outcome: str  # passed, failed, skipped, overridden, aborted, interrupted; "running"
    reason: str
    started_at: datetime
    seconds: float | None  # None while it runs
    figures: Mapping[str, Any]  # as the gate recorded them (JSON), redacted
    key_figures: tuple[tuple[str, str], ...]  # (name, text) each on one line, for a person
    output: tuple[str, ...] = ()  # a failed command's last output lines, redacted


@dataclass(frozen=True)
class RollbackPlan:
    previous_version: str | None  # what a rollback would put back
    schema_compatible: bool | None  # None: unknown until the migration gates
    backup: str | None  # None until database backups are kept
    text: str  # one line


@dataclass(frozen=True)
class ReleasedArtifact:
    """A file the post-deploy ``artifacts`` step copied to the artifact store."""

    name: str
    kind: str  # "artifact" (a configured file) or "report"
    source: str  # where it came from: its path under the project, or "report.md"
    url: str  # where the store keeps it
    sha256: str
    size: int
    id: str  # the stored file's id (safeship's artifact store)


@dataclass(frozen=True)
class DeploymentDetail:
    summary: DeploymentSummary
    path: str | None
    strategy: str | None
    stable_version: str | None
    timeline: tuple[TimelineEntry, ...]
    checks: tuple[CheckFigure, ...]
    steps: tuple[StepFigures, ...]
    rollback_rule: str | None
    rollback_reason: str | None
    env_changes: tuple[EnvChange, ...]
    # The git history between the previous successful deploy's commit and this one, when the
    # repository is at hand; empty when not (``commits_note`` says why).
    commits: tuple[CommitShipped, ...]
    triggered_by: str
    approved_by: tuple[str, ...]  # who the approval gate counted (empty: none needed)
    rollback_plan: RollbackPlan
    # The files archived after the deploy (its artifacts and its report), with checksums.
    artifacts: tuple[ReleasedArtifact, ...] = ()
    # The figures the rollback rule fired on (its ``rollback.triggered`` event's), {} if none.
    rollback_figures: Mapping[str, Any] = field(default_factory=dict)
    # Why ``commits`` is empty (no commit recorded, no repository...), None when it is not.
    commits_note: str | None = None
    # Why ``env_changes`` is empty when it cannot be known (no snapshot to compare).
    env_note: str | None = None
    # The gates that ran before the release, in order (empty: none configured).
    gates: tuple[GateFigures, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The API's and `report --format json`'s shape: plain JSON, times in UTC ISO 8601."""
        # The stored record (as `history --json` gives it) without the steps and checks given
        # below, with the typed fields over it.
        stored = self.summary.as_json()
        summary = {k: v for k, v in stored.items() if k not in _GIVEN_BELOW}
        summary |= {
            f.name: getattr(self.summary, f.name)
            for f in dataclasses.fields(self.summary)
            if f.name != "stored"
        }
        summary["state"] = self.summary.state
        summary["duration_seconds"] = self.summary.duration_seconds
        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        document["summary"] = summary
        result: dict[str, Any] = jsonable(document)
        return result


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: dataclasses as objects, times as UTC ISO 8601 (``Z``), tuples as
    lists, a non-finite number as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- assembly ---------------------------------------------------------------------------------


def deployment_detail(loaded: LoadedConfig, deployment: str) -> DeploymentDetail:
    """The deployment ``deployment`` (its id, or a unique prefix of 6+ hex digits) in full;
    UsageError when there is no such deployment."""
    from safeship.core._logs import find_deployment
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        record = find_deployment(registry, deployment)
        return assemble(
            registry,
            record,
            repo=loaded.base_dir,
            secret_keys=schema_secrets(loaded, record.environment),
        )


def schema_secrets(loaded: LoadedConfig, environment: str) -> frozenset[str]:
    """The variables the env schema declares secret in ``environment`` (none when the project
    has no readable schema: the snapshots then say which values are secret)."""
    from safeship.envschema.schema import load_schema

    path = loaded.base_dir / loaded.config.project.env_schema
    if not path.is_file():
        return frozenset()
    try:
        env_schema = load_schema(path).environment(environment)
    except Exception:  # an unreadable schema is the env commands' error, not the report's
        return frozenset()
    return frozenset(name for name, spec in env_schema.variables.items() if spec.secret)


def _approved_by(registry: Registry, deployment_id: str) -> tuple[str, ...]:
    """The approvers the approval gate counted when it passed (safeship.gates.approval)."""
    for gate in registry.gate_results(deployment_id):
        approvers = gate.figures.get("approvers")
        if gate.gate == "approval" and gate.outcome == "passed" and isinstance(approvers, list):
            return tuple(str(a) for a in approvers)
    return ()


def assemble(
    registry: Registry,
    record: DeploymentRecord,
    *,
    repo: Path | None,
    secret_keys: frozenset[str] = frozenset(),
) -> DeploymentDetail:
    """The record of ``record`` from what the registry holds (``repo``: the project's git
    repository for the commits shipped; ``secret_keys``: the env schema's secret variables)."""
    from safeship.core._logs import log_entry
    from safeship.core._records import deployment_summary
    from safeship.redaction import redact, redact_data

    previous = registry.last_succeeded(record.environment, before=record.id)
    timeline = tuple(_timeline_entry(log_entry(event)) for event in registry.events(record.id))
    commits, commits_note = commits_shipped(
        repo, previous.commit_sha if previous is not None else None, record.commit_sha
    )
    env_changes, env_note = _env_changes(registry, record, previous, secret_keys)
    triggered = [e for e in timeline if e.name == "rollback.triggered"]
    figures = triggered[-1].attributes.get("figures") if triggered else None
    reason = record.rollback_reason
    gates = tuple(gate_figures(g) for g in registry.gate_results(record.id))
    summary = deployment_summary(record)
    summary = dataclasses.replace(
        summary,
        rollback_reason=redact(reason) if reason is not None else None,
        # Its steps and checks are the record's own fields below (interpreted).
        stored=redact_data({k: v for k, v in summary.stored.items() if k not in _GIVEN_BELOW}),
    )
    return DeploymentDetail(
        summary=summary,
        path=record.path,
        strategy=record.strategy,
        stable_version=record.stable_version,
        timeline=timeline,
        checks=tuple(_check(c) for c in record.checks),
        steps=tuple(step_detail(s) for s in record.steps if not s.is_final),
        rollback_rule=record.rollback_rule,
        rollback_reason=redact(reason) if reason is not None else None,
        env_changes=env_changes,
        commits=commits,
        artifacts=released_artifacts(registry, record.id),
        triggered_by=record.triggered_by,
        approved_by=_approved_by(registry, record.id),
        rollback_plan=_rollback_plan(record, previous, gates),
        rollback_figures=redact_data(dict(figures)) if isinstance(figures, Mapping) else {},
        commits_note=commits_note,
        env_note=env_note,
        gates=gates,
    )


def released_artifacts(registry: Registry, deployment_id: str) -> tuple[ReleasedArtifact, ...]:
    """The files the post-deploy ``artifacts`` step stored for the deployment, as its verdict
    (a ``gate_results`` row) recorded them."""
    from safeship.redaction import redact

    rows = [g for g in registry.gate_results(deployment_id) if g.gate == "artifacts"]
    files = rows[-1].figures.get("files") if rows else None
    if not isinstance(files, list):
        return ()
    return tuple(
        ReleasedArtifact(
            name=str(f.get("name", "")),
            kind=str(f.get("kind", "")),
            source=str(f.get("source", "")),
            url=redact(str(f.get("url", ""))),
            sha256=str(f.get("sha256", "")),
            size=int(f.get("size", 0)),
            id=str(f.get("id", "")),
        )
        for f in files
        if isinstance(f, dict)
    )


def gate_figures(result: GateResult) -> GateFigures:
    """A gate's row (``gate_results``) as the report shows it."""
    from safeship.redaction import redact, redact_data

    figures: dict[str, Any] = redact_data(dict(result.figures))
    output = figures.get(_OUTPUT)
    seconds = (
        (result.finished_at - result.started_at).total_seconds()
        if result.finished_at is not None
        else None
    )
    return GateFigures(
        gate=result.gate,
        outcome=result.outcome or "running",
        reason=redact(result.reason or ""),
        started_at=result.started_at,
        seconds=seconds,
        figures=figures,
        key_figures=tuple(
            (name, _figure_text(value))
            for name, value in figures.items()
            if name != _OUTPUT and value is not None
        ),
        output=tuple(str(line) for line in output) if isinstance(output, list) else (),
    )


def _figure_text(value: Any) -> str:
    """A figure on one line: a list's items and a mapping's entries joined."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, Mapping):
        text = "; ".join(f"{k}: {_figure_text(v)}" for k, v in value.items()) or "none"
    elif isinstance(value, list | tuple):
        text = "; ".join(_figure_text(v) for v in value) or "none"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= FIGURE_CHARS else text[: FIGURE_CHARS - 3] + "..."


def _timeline_entry(entry: Any) -> TimelineEntry:
    from safeship.redaction import redact_data

    # The text is made of the redacted attributes: redacting them once covers both.
    attributes: dict[str, Any] = redact_data(dict(entry.attributes))
    return TimelineEntry(
        at=entry.timestamp,
        name=entry.event,
        text=event_text(entry.event, attributes),
        attributes=attributes,
    )


def event_text(name: str, attributes: Mapping[str, Any]) -> str:
    """One line a person reads for an event."""

    def attr(key: str) -> str:
        value = attributes.get(key)
        return "" if value is None else str(value)

    stage, reason = attr("stage"), attr("reason")
    step = f" at {attr('step')}%" if attributes.get("step") is not None else ""
    if name == "deployment.started":
        strategy = attr("strategy")
        return f"deployment started ({strategy})" if strategy else "deployment started"
    if name == "stage.started":
        return f"{stage} started{step}"
    if name == "stage.passed":
        return f"{stage} passed{step}" + (f": {reason}" if reason else "")
    if name == "stage.failed":
        return f"{stage} failed{step}" + (f": {reason}" if reason else "")
    if name == "traffic.shifted":
        weights = attributes.get("weights")
        if isinstance(weights, Mapping) and weights:
            split = ", ".join(f"{release} {weight}%" for release, weight in weights.items())
            return f"traffic shifted: {split}"
        return f"traffic shifted to {attr('step')}%"
    if name == "rollback.triggered":
        return f"rollback triggered{step} by rule {attr('rule') or '?'}: {reason}"
    if name == "rollback.completed":
        return "rollback completed: all traffic back on the stable release"
    if name == "deployment.succeeded":
        score = attributes.get("health_score")
        figure = f" (health score {score:.2f})" if isinstance(score, int | float) else ""
        return f"deployment succeeded{figure}"
    if name == "deployment.failed":
        return f"deployment {attr('status') or 'failed'}" + (f": {reason}" if reason else "")
    if name == "deployment.aborted":
        return "deployment aborted" + (f": {reason}" if reason else "")
    if name == "check.completed":
        latency = attributes.get("latency_ms")
        took = f" in {latency:.1f} ms" if isinstance(latency, int | float) else ""
        detail = f": {attr('detail')}" if attr("detail") else ""
        return f"check {attr('check') or attr('name')} {attr('status')}{took}{detail}"
    if name == "deployment.released":
        return f"released as {attr('tag')}" if attr("tag") else "released"
    return name


def _check(check: Any) -> CheckFigure:
    from safeship.core._health import level_name
    from safeship.redaction import redact

    return CheckFigure(
        name=check.name,
        level=level_name(check.level),
        status=check.status,
        duration_ms=check.duration_ms,
        detail=redact(check.detail or ""),
    )


def step_detail(step: StepResult) -> StepFigures:
    """A judged canary step (a ``step_results`` row) as the report shows it."""
    from safeship.core._records import step_figures

    return StepFigures(
        weight=step.weight,
        verdict=step.verdict,
        at=step.created_at,
        analysis=step_figures(step),
        canary_error_rate=step.canary_error_rate,
        stable_error_rate=step.stable_error_rate,
        canary_latency_ms=step.canary_latency_ms,
        stable_latency_ms=step.stable_latency_ms,
        canary_requests=step.canary_requests,
        stable_requests=step.stable_requests,
    )


def commits_shipped(
    repo: Path | None, previous: str | None, commit: str | None
) -> tuple[tuple[CommitShipped, ...], str | None]:
    """The commits from ``previous`` (the previous successful deployment's commit; None: the
    whole history) to ``commit`` in the repository at ``repo``, and why there are none."""
    from safeship.analytics.git_history import GitHistoryUnavailable, commits_between
    from safeship.redaction import redact

    if commit is None:
        return (), "no commit was recorded with this deployment"
    if repo is None:
        return (), "the project's git repository is not at hand here"
    if previous == commit:
        return (), "the same commit as the previous successful deployment"
    try:
        found = commits_between(repo, previous, commit, MAX_COMMITS)
    except GitHistoryUnavailable as exc:
        if "not a git repository" in str(exc):
            return (), "the project's git repository is not at hand here"
        return (), f"the git history could not be read: {redact(str(exc))}"
    commits = tuple(
        dataclasses.replace(c, author=redact(c.author), subject=redact(c.subject)) for c in found
    )
    if not commits:
        return (), "no commit between the previous successful deployment's and this one"
    return commits, None


def _env_changes(
    registry: Registry,
    record: DeploymentRecord,
    previous: DeploymentRecord | None,
    secret_keys: frozenset[str],
) -> tuple[tuple[EnvChange, ...], str | None]:
    """The environment's variables as last recorded before this deployment started, against
    those before the previous successful one started (`safeship env snapshot` records them)."""
    if previous is None:
        return (), "No previous successful deployment to compare the environment with."
    snapshots = registry.env_snapshots(record.environment, limit=SNAPSHOTS_READ)
    now = _snapshot_at(snapshots, record.started_at)
    then = _snapshot_at(snapshots, previous.started_at)
    if now is None or then is None:
        return (), "No environment snapshot before both deployments (safeship env snapshot)."
    if now.id == then.id:
        return (), None
    return env_changes(then.variables, now.variables, secret_keys), None


def _snapshot_at(
    snapshots: Sequence[EnvSnapshotRecord], moment: datetime
) -> EnvSnapshotRecord | None:
    """The newest snapshot taken at or before ``moment`` (``snapshots`` newest first)."""
    return next((s for s in snapshots if s.taken_at <= moment), None)


def env_changes(
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    secret_keys: frozenset[str] = frozenset(),
) -> tuple[EnvChange, ...]:
    """Key by key, from one snapshot's variables to another's. A variable is secret when the
    schema says so or either snapshot kept only its fingerprint: then no value is shown."""
    from safeship.envschema.compare import same

    result = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and same(dict(before), dict(after)):
            continue
        secret = key in secret_keys or any(
            bool(entry.get("secret")) for entry in (before, after) if entry is not None
        )
        change = "added" if before is None else "removed" if after is None else "changed"
        result.append(
            EnvChange(
                key=key,
                change=change,
                secret=secret,
                before=None if secret or before is None else _value(before),
                after=None if secret or after is None else _value(after),
            )
        )
    return tuple(result)


def _value(entry: Mapping[str, Any]) -> str | None:
    from safeship.redaction import redact

    value = entry.get("value")
    return redact(value) if isinstance(value, str) else None


def _rollback_plan(
    record: DeploymentRecord, previous: DeploymentRecord | None, gates: Sequence[GateFigures]
) -> RollbackPlan:
    """What a rollback does, now: the rollback plan gate's record (schema compatibility and
    the backup to restore) where it ran, with the deployment's state."""
    plan = next((g for g in gates if g.gate == "rollback_plan" and g.outcome == "passed"), None)
    compatible = plan.figures.get("schema_compatible") if plan is not None else None
    backup = plan.figures.get("backup") if plan is not None else None
    environment = record.environment
    back = previous.version if previous is not None else record.stable_version
    if record.status == "succeeded":
        if back is None:
            text = f"no earlier good version of {environment} to put back"
        else:
            text = f"`safeship rollback {environment}` puts {back} back, all at once"
    elif record.status in ("rolled_back", "failed", "aborted"):
        kept = record.stable_version or back
        if kept is None:
            text = f"nothing to put back: {environment} had no release serving before"
        elif record.status == "rolled_back":
            text = f"done: traffic went back to {kept}"
        else:
            text = f"nothing to undo: {kept} kept serving, this release never took all traffic"
    else:
        text = f"while it runs, `safeship abort {environment}` sends traffic back to {back}"
    # A failed deployment's plan matters only if its migration changed the schema.
    migrated = any(g.gate == "migrate" and g.outcome == "passed" for g in gates)
    if plan is not None and plan.reason:
        if record.status == "succeeded":
            text = plan.reason
        elif migrated or record.status not in ("failed", "aborted"):
            text = f"{text}. Plan: {plan.reason}"
    return RollbackPlan(
        previous_version=back,
        schema_compatible=compatible if isinstance(compatible, bool) else None,
        backup=str(backup) if backup is not None else None,
        text=text,
    )
