"""safeship approve DEPLOYMENT [--reason], safeship reject DEPLOYMENT --reason, safeship
approvals [ENV].

The user answering is the owner of the API token in SAFESHIP_TOKEN (`safeship user token NAME`
makes one): a token, not a name on the command line, so nobody approves as someone else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from safeship.cli.common import load
from safeship.redaction import redact

if TYPE_CHECKING:
    from safeship.core import PendingApproval


def run_answer(
    config: Path | None,
    deployment: str,
    decision: Literal["approve", "reject"],
    reason: str | None,
) -> int:
    from safeship import core

    loaded = load(config)
    doing = "approving" if decision == "approve" else "rejecting"
    user = core.identify(loaded, os.environ.get(core.TOKEN_VARIABLE), "approver", doing)
    answer: Callable[..., PendingApproval] = core.approve if decision == "approve" else core.reject
    try:
        pending = answer(loaded, deployment, user=user.name, reason=reason, via="cli")
    except core.ApprovalRefused as exc:
        _line(f"safeship: error: {exc}", sys.stderr)
        return 1
    d = pending.deployment
    what = f"{d.id[:8]} ({d.version} to {d.environment})"
    if decision == "reject":
        _line(f"rejected {what} as {user.name}: the deploy ends aborted")
        return 0
    approved = sum(1 for a in pending.answers if a.decision == "approve")
    _line(f"approved {what} as {user.name}: {approved} of {pending.required} approvals")
    return 0


def run_list(config: Path | None, environment: str | None) -> int:
    from safeship import core

    waiting = core.pending_approvals(load(config, reuse=True), environment)
    if not waiting:
        _line(f"nothing awaits approval{f' in {environment}' if environment else ''}")
        return 0
    for pending in waiting:
        for line in describe(pending):
            _line(line)
    return 0


def describe(pending: PendingApproval) -> list[str]:
    """A waiting deployment as lines: what, who asked, approvals so far, why, what its gates
    found (the rollback plan, the migration's findings)."""
    d = pending.deployment
    approvers = [a.user for a in pending.answers if a.decision == "approve"]
    at = pending.requested_at
    since = f", waiting since {at:%Y-%m-%d %H:%M} UTC" if at else ""
    lines = [
        f"{d.id[:8]} {d.environment} {d.version} asked by {d.triggered_by}{since}: "
        f"{len(approvers)} of {pending.required} approvals"
        + (f" ({', '.join(approvers)})" if approvers else "")
    ]
    lines += [f"  needs approval: {reason}" for reason in pending.reasons]
    for gate in pending.gates:
        lines.append(f"  {gate.gate}: {gate.outcome}" + (f": {gate.reason}" if gate.reason else ""))
    lines.append(f"  safeship approve {d.id[:8]}  |  safeship reject {d.id[:8]} --reason TEXT")
    return lines


def _line(text: str, stream: TextIO | None = None) -> None:
    """One plain line, redacted (a gate's reason may quote a command's output)."""
    print(redact(text), file=stream or sys.stdout)
