"""When a secret is due (rotation/schedule.py ``due``): the states at their boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from safeship.rotation.schedule import due

LAST = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PERIOD, REMIND = 30.0, 7.0
DUE_AT = LAST + timedelta(days=PERIOD)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (LAST, "ok"),
        (DUE_AT - timedelta(days=REMIND) - TICK, "ok"),  # just before the reminder window
        (DUE_AT - timedelta(days=REMIND), "due"),  # the window opens
        (DUE_AT - TICK, "due"),
        (DUE_AT, "overdue"),  # the due date itself is late
        (DUE_AT + timedelta(days=400), "overdue"),
    ],
)
def test_the_states_at_their_boundaries(now: datetime, state: str) -> None:
    found = due(LAST, PERIOD, REMIND, now)
    assert found.state == state and found.next_due == DUE_AT
    assert found.age_days == pytest.approx((now - LAST).total_seconds() / 86400)


def test_a_period_of_zero_is_on_demand_whatever_the_age() -> None:
    old = due(LAST, 0.0, REMIND, LAST + timedelta(days=3000))
    assert (old.state, old.next_due, old.age_days) == ("on_demand", None, pytest.approx(3000))
    never = due(None, 0.0, REMIND, LAST)
    assert (never.state, never.next_due, never.age_days) == ("on_demand", None, None)


def test_never_rotated_has_no_date_to_count_from() -> None:
    found = due(None, PERIOD, REMIND, LAST)
    assert (found.state, found.next_due, found.age_days) == ("never_rotated", None, None)


def test_a_reminder_window_as_long_as_the_period_is_due_at_once() -> None:
    assert due(LAST, PERIOD, PERIOD, LAST).state == "due"
    assert due(LAST, PERIOD, 0.0, DUE_AT - TICK).state == "ok"
