"""Approval: the last gate before a release starts. The deployment waits in awaiting_approval
until ``required`` distinct users with the approver role approve it (at least one when an
earlier gate asked, through ``context.needs_approval``), shown what the earlier gates found;
a rejection, `safeship abort ENV` or no answer within ``timeout`` ends it aborted.

Answers come from `safeship approve|reject` and the dashboard (``safeship.core``), which write
them to the registry's ``approvals``; this gate reads them every POLL_INTERVAL. When the deploy
runs in a GitHub Actions job bound to a protected GitHub environment (``github_environment``),
the job only started once GitHub's required reviewers approved: they are read from the run's
review history and recorded as approvals ("github:LOGIN", via github).

Who may answer is decided here, for every face (:func:`refusal`): an approver (or admin) who
is not the requester, unless ``allow_self``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from safeship.auth.roles import role_allows
from safeship.gates.base import GateContext, GateVerdict, passed, skipped

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.gates.settings import ApprovalSettings
    from safeship.notify.settings import GitHubSettings
    from safeship.registry import Registry
    from safeship.registry.gate_rows import ApprovalRecord

NAME: Final = "approval"
# How often the waiting deploy reads the answers and the abort requests.
POLL_INTERVAL: Final = 0.25
ROLE: Final = "approver"
GITHUB_PREFIX: Final = "github:"


def person(actor: str) -> str:
    """The person an actor names: "dashboard:alice" and "alice" are alice, "github:bob" bob
    (a deployment's triggered_by and an approval's user compared as people)."""
    return actor.rsplit(":", 1)[-1].strip().lower()


def refusal(user: str, role: str | None, requester: str, settings: ApprovalSettings) -> str | None:
    """Why ``user`` (with ``role``; None: not a safeship user) may not approve a deployment
    ``requester`` asked for; None when they may."""
    if role is None:
        return f"{user} is not a safeship user"
    if not role_allows(role, ROLE):
        return f"{user} is a {role}: approving needs the {ROLE} role"
    if not settings.allow_self and person(user) == person(requester):
        return f"{user} asked for this deploy and cannot approve it (allow_self is off)"
    return None


def duration_text(seconds: float) -> str:
    """4 h, 15 min, 1 s: a timeout as a reason says it."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass
class Tally:
    """The answers that count so far: approvers in the order they approved, the first
    rejection (by whom, why)."""

    approvers: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    rejection: ApprovalRecord | None = None


def tally(
    answers: Sequence[ApprovalRecord],
    requester: str,
    settings: ApprovalSettings,
    role_of: Callable[[str], str | None],
) -> Tally:
    """Count ``answers``: a GitHub reviewer counts as an approver (GitHub checked them); a
    safeship user only while their role still allows it (re-read: a demoted user's answer no
    longer counts)."""
    counted = Tally()
    for answer in answers:
        if answer.via != "github" and refusal(
            answer.user, role_of(answer.user), requester, settings
        ):
            continue
        if answer.decision == "reject":
            counted.rejection = counted.rejection or answer
        elif answer.user not in counted.approvers:
            counted.approvers.append(answer.user)
            if answer.reason:
                counted.reasons[answer.user] = answer.reason
    return counted


def earlier_verdicts(registry: Registry, deployment_id: str) -> list[dict[str, Any]]:
    """The verdicts of the gates before this one (what an approver is shown)."""
    return [
        {"gate": g.gate, "outcome": g.outcome, "reason": g.reason, "figures": dict(g.figures)}
        for g in registry.gate_results(deployment_id)
        if g.gate != NAME and g.outcome is not None
    ]


@dataclass(frozen=True)
class ApprovalGate:
    settings: ApprovalSettings
    poll_interval: float = POLL_INTERVAL
    name: str = NAME

    def check(self, context: GateContext) -> GateVerdict:
        asked = list(context.needs_approval)
        if self.settings.required == 0 and not asked:
            return skipped("no approval required")
        needed = max(self.settings.required, 1)
        registry, deployment_id = context.registry, context.deployment_id
        timeout = self.settings.timeout
        context.await_approval(
            {
                "required": needed,
                "reasons": asked,
                "gates": earlier_verdicts(registry, deployment_id),
                "timeout": timeout,
            }
        )
        figures: dict[str, Any] = {"required": needed, "reasons": asked}
        github_problem = self.record_github_reviewers(context)
        if github_problem:
            figures["github"] = github_problem
        deadline = time.monotonic() + timeout
        announced: set[str] = set()
        while True:
            counted = tally(
                registry.approvals(deployment_id),
                context.triggered_by,
                self.settings,
                lambda name: _role(registry, name),
            )
            for approver in counted.approvers:
                if approver not in announced:
                    announced.add(approver)
                    context.emit("approval.granted", by=approver,
                                 reason=counted.reasons.get(approver), required=needed)  # fmt: skip
            if counted.rejection is not None:
                by, why = counted.rejection.user, counted.rejection.reason or "no reason given"
                context.emit("approval.rejected", by=by, reason=why)
                return GateVerdict("aborted", f"rejected by {by}: {why}",
                                   {**figures, "rejected_by": by})  # fmt: skip
            if len(counted.approvers) >= needed:
                who = ", ".join(counted.approvers)
                return passed(f"approved by {who}", **figures, approvers=counted.approvers,
                              approver_reasons=counted.reasons)  # fmt: skip
            aborted_by = _abort_request(registry, deployment_id)
            if aborted_by is not None:
                return GateVerdict("aborted", f"aborted by {aborted_by} while awaiting approval",
                                   figures)  # fmt: skip
            left = deadline - time.monotonic()
            if left <= 0:
                return GateVerdict(
                    "aborted",
                    f"no approval within {duration_text(timeout)} "
                    f"({len(counted.approvers)} of {needed})",
                    {**figures, "approvers": counted.approvers},
                )
            time.sleep(min(self.poll_interval, left))

    def record_github_reviewers(self, context: GateContext) -> str | None:
        """Record the GitHub environment's reviewers who approved this job's run; why they
        could not be read (None: read, or not a GitHub Actions job bound to the environment)."""
        environment = self.settings.github_environment
        github = context.loaded.config.github
        run = _github_run()
        if not environment or github is None or run is None:
            return None
        from safeship.httpapi import ApiError

        repository, run_id = run
        try:
            reviewers = github_reviewers(github, repository, run_id, environment)
        except (ApiError, ValueError) as exc:
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        for login, comment in reviewers:
            context.registry.add_approval(
                context.deployment_id, GITHUB_PREFIX + login, "approve", comment or None, "github"
            )
        return None


def _role(registry: Registry, name: str) -> str | None:
    user = registry.user(name)
    return user.role if user is not None else None


def _abort_request(registry: Registry, deployment_id: str) -> str | None:
    """`safeship abort ENV` (or the dashboard's abort) left for this deployment: who asked,
    once (the request is marked handled before it is acted on, as the bake does)."""
    for request in registry.requests(deployment_id):
        pending_abort = request.handled_at is None and request.kind == "abort"
        if pending_abort and registry.mark_request_handled(request.id):
            return request.requested_by
    return None


# -- GitHub Environments' required reviewers --------------------------------------------------


def _github_run() -> tuple[str, int] | None:
    """(owner/repo, run id) of the GitHub Actions job this runs in, else None."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    run_id = os.environ.get("GITHUB_RUN_ID", "")
    if "/" not in repository or not run_id.isdigit():
        return None
    return repository, int(run_id)


def github_reviewers(
    settings: GitHubSettings, repository: str, run_id: int, environment: str
) -> list[tuple[str, str]]:
    """(login, comment) of each reviewer who approved ``environment`` for the run, from
    GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals ("Get the review history for a
    workflow run": entries with ``state`` approved|rejected|pending, ``environments``,
    ``user.login``, ``comment``). ApiError when GitHub does not answer it; ValueError when the
    answer is not that shape."""
    from safeship.httpapi import JsonApi, RetryPolicy
    from safeship.notify.github_sink import github_token

    token = github_token(settings)
    if token is None:
        raise ValueError(f"{settings.token_env} is not set: GitHub's reviewers cannot be read")
    api = JsonApi(
        "github approvals",
        {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "safeship",
            "Authorization": f"Bearer {token}",
        },
        timeout=settings.request_timeout,
        retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
        secrets=[token],
    )
    url = f"{settings.api_url.rstrip('/')}/repos/{repository}/actions/runs/{run_id}/approvals"
    try:
        _, answer = api.request("GET", url)
    finally:
        api.close()
    if not isinstance(answer, list):
        raise ValueError("github approvals: the answer is not a list")
    found: list[tuple[str, str]] = []
    for entry in answer:
        if not isinstance(entry, Mapping) or entry.get("state") != "approved":
            continue
        names = [e.get("name") for e in entry.get("environments") or [] if isinstance(e, Mapping)]
        user = entry.get("user")
        login = user.get("login") if isinstance(user, Mapping) else None
        if environment in names and isinstance(login, str) and login:
            comment = entry.get("comment")
            found.append((login, comment if isinstance(comment, str) else ""))
    return found


def gate(settings: EnvironmentSettings) -> ApprovalGate | None:
    """The gate where approval is required, or where another gate may ask for one (an
    override of the chain or of a freeze window, a migration the linter flags); it skips
    itself when nothing asked. Elsewhere no approval row is written at all."""
    gates = settings.gates
    may_ask = bool(settings.requires or gates.freeze or gates.migration.command)
    if gates.approval.required == 0 and not may_ask:
        return None
    return ApprovalGate(gates.approval)
