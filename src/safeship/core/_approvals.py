"""Approvals: what waits for one, and a person's answer (docs/gates/approval.md).

A deployment waiting in awaiting_approval is held by its deploy process, in the approval gate
(:mod:`safeship.gates.approval`), which reads the registry's answers. The faces call these:
`safeship approve|reject|approvals` (identified by an API token in SAFESHIP_TOKEN) and the
dashboard (the signed-in user). Who may answer is the gate's rule (:func:`refusal`), checked
here before an answer is recorded and again by the gate when it counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from safeship.auth import AuthError

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.core._records import DeploymentSummary
    from safeship.core._users import Principal
    from safeship.registry import DeploymentRecord, Registry

Via = Literal["cli", "dashboard", "github"]
AWAITING: Final = "awaiting_approval"
# The variable the CLI reads its user's API token from (`safeship user token NAME` makes one).
TOKEN_VARIABLE: Final = "SAFESHIP_TOKEN"


class ApprovalRefused(Exception):
    """The answer cannot be recorded (not awaiting approval, not allowed, answered already).
    The message is one line."""


@dataclass(frozen=True)
class GateFinding:
    """A gate's verdict, as shown to an approver (e.g. the rollback plan, migration findings)."""

    gate: str
    outcome: str
    reason: str | None
    figures: dict[str, Any]


@dataclass(frozen=True)
class ApprovalAnswer:
    user: str
    decision: str  # approve | reject
    reason: str | None
    via: str  # cli | dashboard | github
    at: datetime


@dataclass(frozen=True)
class PendingApproval:
    """A deployment waiting for approval: what it needs, why, and what its gates found."""

    deployment: DeploymentSummary
    required: int
    reasons: tuple[str, ...]  # why a gate asked (empty: the environment requires approval)
    gates: tuple[GateFinding, ...]
    answers: tuple[ApprovalAnswer, ...]
    requested_at: datetime | None
    timeout: float | None  # seconds from requested_at before it is aborted


def identify(loaded: LoadedConfig, token: str | None, role: str, doing: str) -> Principal:
    """The user an API token (the CLI's SAFESHIP_TOKEN) belongs to, who must have ``role``;
    AuthError (one line) when the token is absent, unknown, or the role too low."""
    from safeship.core._users import authenticate_token

    if not token or not token.strip():
        raise AuthError(
            f"{doing} needs an {role}: set {TOKEN_VARIABLE} to their API token "
            "(safeship user token NAME)"
        )
    principal = authenticate_token(loaded, token.strip())
    if principal is None:
        raise AuthError(f"{TOKEN_VARIABLE} is not a valid API token (unknown, revoked or expired)")
    if not principal.may(role):
        raise AuthError(f"{principal.name} is a {principal.role}: {doing} needs the {role} role")
    return principal


def approve(
    loaded: LoadedConfig,
    deployment: str,
    *,
    user: str,
    reason: str | None = None,
    via: Via = "cli",
    client: str | None = None,
) -> PendingApproval:
    """Record ``user``'s approval of ``deployment`` (its id or a 6+ digit prefix); what now
    waits. ApprovalRefused when it is not awaiting approval, ``user`` may not approve it, or
    answered it already (approving twice acts once); UsageError when there is no such
    deployment. ``client``: where the answer came from (the dashboard's caller), audited."""
    return _answer(loaded, deployment, user, "approve", reason, via, client)


def reject(
    loaded: LoadedConfig,
    deployment: str,
    *,
    user: str,
    reason: str,
    via: Via = "cli",
    client: str | None = None,
) -> PendingApproval:
    """Record ``user``'s rejection (the deploy ends aborted with ``reason``); as approve."""
    if not reason or not reason.strip():
        raise ApprovalRefused("a rejection needs a reason (--reason TEXT)")
    return _answer(loaded, deployment, user, "reject", reason, via, client)


def pending_approvals(
    loaded: LoadedConfig, environment: str | None = None
) -> list[PendingApproval]:
    """The deployments awaiting approval (in ``environment``, or every one), newest first."""
    from safeship.registry import Registry

    names = [environment] if environment else sorted(loaded.config.environments)
    if environment:
        loaded.environment(environment)  # an unknown environment is the config's error
    with Registry(loaded.registry_url()) as registry:
        waiting = [r for name in names for r in registry.active(name) if r.status == AWAITING]
        return [_pending(registry, r) for r in waiting]


def pending_approval(loaded: LoadedConfig, deployment: str) -> PendingApproval:
    """One deployment's approval state (UsageError: no such deployment)."""
    from safeship.core._logs import find_deployment
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        return _pending(registry, find_deployment(registry, deployment))


# -- inside ------------------------------------------------------------------------------------


def _answer(
    loaded: LoadedConfig,
    deployment: str,
    user: str,
    decision: Literal["approve", "reject"],
    reason: str | None,
    via: Via,
    client: str | None,
) -> PendingApproval:
    from safeship.core._logs import find_deployment
    from safeship.core._users import audit_record
    from safeship.gates.approval import refusal
    from safeship.redaction import redact
    from safeship.registry import Registry

    reason = " ".join(redact(reason).split()) if reason else None
    reason = reason or None
    with Registry(loaded.registry_url()) as registry:
        record = find_deployment(registry, deployment)
        what = f"deployment {record.id[:8]} ({record.version} to {record.environment})"
        if record.status != AWAITING:
            raise ApprovalRefused(
                f"{what} is not awaiting approval: it is {record.status.replace('_', ' ')}"
            )
        settings = loaded.environment(record.environment).gates.approval
        found = registry.user(user)
        why = refusal(user, found.role if found else None, record.triggered_by, settings)
        if why is not None:
            audit_record(loaded, user, decision, record.id, "refused", client, why)
            raise ApprovalRefused(why)
        if not registry.add_approval(record.id, user, decision, reason, via):
            raise ApprovalRefused(f"{user} has answered {what} already")
        audit_record(loaded, user, decision, record.id, "ok", client, f"via {via}")
        return _pending(registry, record)


def _pending(registry: Registry, record: DeploymentRecord) -> PendingApproval:
    from safeship.core._records import deployment_summary

    requested = [e for e in registry.events(record.id) if e.name == "approval.requested"]
    attributes: dict[str, Any] = {}
    if requested:
        nested = requested[-1].attributes.get("attributes")
        attributes = nested if isinstance(nested, dict) else {}
    required = attributes.get("required")
    reasons = attributes.get("reasons")
    timeout = attributes.get("timeout")
    return PendingApproval(
        deployment=deployment_summary(record),
        required=required if isinstance(required, int) else 1,
        reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (),
        gates=tuple(
            GateFinding(g.gate, g.outcome, g.reason, dict(g.figures))
            for g in registry.gate_results(record.id)
            if g.gate != "approval" and g.outcome is not None
        ),
        answers=tuple(
            ApprovalAnswer(a.user, a.decision, a.reason, a.via, a.at)
            for a in registry.approvals(record.id)
        ),
        requested_at=requested[-1].timestamp if requested else None,
        timeout=float(timeout) if isinstance(timeout, int | float) else None,
    )
