"""The statuses a deployment can have: what the registry stores and the pipeline moves through.

Low in the layers so that the registry can name them without importing the pipeline;
``safeship.pipeline.states`` says which status may follow which.
"""

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
