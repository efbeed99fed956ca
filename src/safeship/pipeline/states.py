"""The deployment state machine: which status may follow which."""

from __future__ import annotations

# The statuses themselves live low in the layers (the registry stores them).
from safeship.deployment_status import TERMINAL as TERMINAL
from safeship.deployment_status import Status as Status

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
