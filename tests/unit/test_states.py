"""The deployment state machine."""

from __future__ import annotations

import itertools

import pytest

from safeship.pipeline.states import (
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
    Status,
    check_transition,
)


def test_every_status_has_a_transition_row() -> None:
    assert set(TRANSITIONS) == set(Status)


def test_happy_path_of_a_canary() -> None:
    path = [
        Status.PENDING,
        Status.DEPLOYING,
        Status.VERIFYING,
        Status.PROGRESSING,
        Status.PROGRESSING,
        Status.PROGRESSING,
        Status.SUCCEEDED,
    ]
    for current, new in itertools.pairwise(path):
        check_transition(current, new)


@pytest.mark.parametrize("before_traffic", [Status.PENDING, Status.DEPLOYING, Status.VERIFYING])
def test_failed_only_before_traffic(before_traffic: Status) -> None:
    check_transition(before_traffic, Status.FAILED)
    with pytest.raises(InvalidTransition):
        check_transition(before_traffic, Status.ROLLED_BACK)


def test_rolled_back_only_after_traffic() -> None:
    check_transition(Status.PROGRESSING, Status.ROLLED_BACK)
    with pytest.raises(InvalidTransition, match="from progressing to failed"):
        check_transition(Status.PROGRESSING, Status.FAILED)


def test_terminal_states_are_final_except_a_later_manual_rollback() -> None:
    for status in TERMINAL - {Status.SUCCEEDED}:
        assert TRANSITIONS[status] == frozenset()
    assert TRANSITIONS[Status.SUCCEEDED] == {Status.ROLLED_BACK}


def test_cannot_skip_verification() -> None:
    with pytest.raises(InvalidTransition):
        check_transition(Status.DEPLOYING, Status.PROGRESSING)
