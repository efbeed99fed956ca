"""The deployment state machine: which status may follow which."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    VALIDATING = "validating"
    AWAITING_APPROVAL = "awaiting_approval"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    PROGRESSING = "progressing"
    MONITORING = "monitoring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # never took traffic
    ROLLED_BACK = "rolled_back"  # took traffic and was reverted
    ABORTED = "aborted"  # stopped by a person or a crash of safeship before it took traffic


TERMINAL: frozenset[Status] = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.ROLLED_BACK, Status.ABORTED}
)

# Statuses in which the new release may be serving traffic: leaving them means a rollback.
TAKES_TRAFFIC: frozenset[Status] = frozenset({Status.PROGRESSING, Status.MONITORING})

_BEFORE_TRAFFIC_EXITS = {Status.FAILED, Status.ABORTED}

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.VALIDATING, Status.DEPLOYING} | _BEFORE_TRAFFIC_EXITS),
    Status.VALIDATING: frozenset(
        {Status.AWAITING_APPROVAL, Status.DEPLOYING} | _BEFORE_TRAFFIC_EXITS
    ),
    Status.AWAITING_APPROVAL: frozenset({Status.DEPLOYING} | _BEFORE_TRAFFIC_EXITS),
    Status.DEPLOYING: frozenset({Status.VERIFYING} | _BEFORE_TRAFFIC_EXITS),
    Status.VERIFYING: frozenset({Status.PROGRESSING} | _BEFORE_TRAFFIC_EXITS),
    # progressing -> progressing is the next canary step.
    Status.PROGRESSING: frozenset(
        {Status.PROGRESSING, Status.MONITORING, Status.SUCCEEDED, Status.ROLLED_BACK}
    ),
    Status.MONITORING: frozenset({Status.SUCCEEDED, Status.ROLLED_BACK}),
    Status.SUCCEEDED: frozenset({Status.ROLLED_BACK}),  # a later manual rollback reverts it
    Status.FAILED: frozenset(),
    Status.ROLLED_BACK: frozenset(),
    Status.ABORTED: frozenset(),
}


class InvalidTransition(Exception):
    pass


def check_transition(current: Status, new: Status) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"a deployment cannot go from {current} to {new}")


def is_terminal(status: Status) -> bool:
    return status in TERMINAL
