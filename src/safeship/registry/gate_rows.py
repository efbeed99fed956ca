"""The rows the gates' repositories return (gate results, approvals, stored files, releases,
drills, environment pauses, secret rotations), as plain data.

Apart from their repositories (``gate_results``, ``approvals``, ``stored_files``,
``releases``, ``drills``, ``pauses``), which ``Registry`` inherits: every command opens the
registry, and defining these classes costs about 10 ms that `safeship status` and `history`
need not pay. A repository imports them when it makes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class GateResult:
    id: int
    deployment_id: str
    gate: str
    outcome: str | None  # None: the gate was running (unfinished: its safeship died)
    reason: str | None
    figures: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    id: int
    deployment_id: str
    user: str
    decision: str  # approve | reject
    reason: str | None
    via: str  # cli | dashboard | github
    at: datetime


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    kind: str  # "backup", "report", "build", ...
    environment: str
    name: str  # the file's own name (as it was given)
    url: str  # where it is: a local path or an fsspec URL
    sha256: str
    size: int
    created_at: datetime
    deployment_id: str | None


@dataclass(frozen=True, slots=True)
class ReleaseStepRecord:
    release_id: int
    position: int  # 0, 1, ...: the chain's order
    environment: str
    status: str
    deployment_id: str | None
    reason: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    id: int
    version: str
    commit_sha: str | None
    target: str | None  # the `--to` environment; None: every end of the chain
    status: str
    reason: str | None
    triggered_by: str
    holder: str  # user@host pid N of the process walking it (the last one to)
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[ReleaseStepRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class DrillRecord:
    id: int
    environment: str
    serving_version: str  # the version the drill found serving (rolled back, then forward)
    previous_version: str  # the previous good version it rolled back to
    triggered_by: str
    outcome: str | None  # "passed", "failed"; None: running (or its safeship died)
    reason: str | None
    legs: tuple[Mapping[str, Any], ...]  # each leg: name, seconds, ok, reason, deployment_id
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class EnvironmentPause:
    id: int
    environment: str
    reason: str  # the probe's last failure, one line
    failures: int  # consecutive failures of the probe so far
    first_failed_at: datetime
    last_failed_at: datetime
    since: datetime | None  # when deploys were paused; None: still counting failures
    lifted_at: datetime | None  # when the probe answered again

    @property
    def paused(self) -> bool:
        return self.since is not None and self.lifted_at is None


@dataclass(frozen=True, slots=True)
class ProbeRecorded:
    """What one probe's result changed: the environment's open row after it (None: none
    open), and whether deploys were paused (``paused_now``) or the pause lifted by it."""

    pause: EnvironmentPause | None
    paused_now: bool = False
    lifted: EnvironmentPause | None = None  # the pause this answer lifted


@dataclass(frozen=True, slots=True)
class RotationStepRecord:
    id: int
    rotation_id: int
    environment: str
    step: str  # create | apply | deploy | test | finish | revoke | discard | set
    status: str  # started | done | failed | skipped
    actor: str
    version: int | None  # the store's version number the step worked on
    fingerprint: str | None  # of that version's value (a keyed hash prefix; never the value)
    previous_fingerprint: str | None
    deployment_id: str | None
    detail: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class RotationRecord:
    id: int
    secret: str
    kind: str
    category: str
    environments: tuple[str, ...]
    status: str  # running | waiting | grace | finished | failed | abandoned
    step: str | None  # ENV:STEP it is in
    triggered_by: str
    holder: str | None  # user@host pid N of the process running it (None: none now)
    reason: str | None
    grace_until: datetime | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps: tuple[RotationStepRecord, ...] = ()
