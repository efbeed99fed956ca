"""Freeze windows: times in which deploys to an environment are refused.

A window is a date range (``start``/``end``) or a recurring one (``cron`` in the window's
``timezone``, lasting ``duration`` seconds from each start). A deploy inside one fails the
"freeze" gate; an approver's ``--override-gates --reason`` lets it pass as ``overridden`` and
asks the approval gate for a second person's approval.

Decisions:

- A recurring window's duration is elapsed time (a 4 h window is 4 real hours, also across a
  DST change). Its starts are croniter's, evaluated in the window's zone: a start in the hour a
  spring DST change skips moves to the first time after it (02:30 → 03:00), and a start in the
  hour an autumn change repeats happens at both (croniter's, and cron's, behaviour) — the
  window then lasts until the later end. A freeze is never shortened by a DST change.
- Occurrences that overlap (a window longer than its period) are one freeze: "until" is the
  end of the last of them that began before the one before it ended, looked up to
  ``_MERGE_LIMIT`` occurrences ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from safeship.gates.base import GateContext, GateVerdict, failed, passed

if TYPE_CHECKING:
    from safeship.config import EnvironmentSettings
    from safeship.gates.settings import FreezeWindow

# Overlapping occurrences of a recurring window merged into one freeze, at most.
_MERGE_LIMIT = 1000


@dataclass(frozen=True)
class Freeze:
    """One period of a window: in force from ``start`` to ``end`` (aware datetimes)."""

    window: FreezeWindow
    start: datetime
    end: datetime

    def covers(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def local(self, moment: datetime) -> str:
        """``moment`` in the window's own time zone, to the minute, with the zone's name."""
        return f"{moment.astimezone(self.window.zone()):%Y-%m-%d %H:%M} {self.window.timezone}"

    def describe(self) -> str:
        """ "frozen by 'year-end' until 2027-01-04 00:00 Europe/Berlin (holidays)"."""
        text = f"frozen by {self.window.name!r} until {self.local(self.end)}"
        return f"{text} ({self.window.reason})" if self.window.reason else text

    def as_json(self) -> dict[str, Any]:
        return {
            "window": self.window.name,
            "start": self.start.astimezone(UTC).isoformat(),
            "end": self.end.astimezone(UTC).isoformat(),
            "timezone": self.window.timezone,
            "reason": self.window.reason,
        }


def in_force(window: FreezeWindow, now: datetime) -> Freeze | None:
    """The period of ``window`` that covers ``now`` (aware), if any."""
    if not window.cron:
        begins, ends = window.bounds()
        return Freeze(window, begins, ends) if begins <= now < ends else None
    duration = timedelta(seconds=window.duration)
    # The first start after now - duration is the only one that may still be running.
    starts = _starts(window, now - duration)
    start = next(starts, None)
    if start is None or start > now:
        return None
    return _merged(window, start, starts)


def next_freeze(window: FreezeWindow, now: datetime) -> Freeze | None:
    """The first period of ``window`` that begins after ``now`` and after any period in force
    now ends (None: no more)."""
    current = in_force(window, now)
    after = current.end if current is not None else now
    if not window.cron:
        begins, ends = window.bounds()
        return Freeze(window, begins, ends) if begins > after else None
    starts = _starts(window, after)
    start = next(starts, None)
    return None if start is None else _merged(window, start, starts)


def freezes_in_force(windows: Sequence[FreezeWindow], now: datetime) -> list[Freeze]:
    return [f for f in (in_force(w, now) for w in windows) if f is not None]


def _starts(window: FreezeWindow, after: datetime) -> Iterator[datetime]:
    """The window's cron starts strictly after ``after``, as aware datetimes in UTC."""
    from croniter import croniter

    # The config refused an expression that never matches: each get_next finds a time.
    schedule = croniter(window.cron, after.astimezone(window.zone()))
    for _ in range(_MERGE_LIMIT + 1):
        start: datetime = schedule.get_next(datetime)
        yield start.astimezone(UTC)


def _merged(window: FreezeWindow, start: datetime, later: Iterator[datetime]) -> Freeze:
    duration = timedelta(seconds=window.duration)
    end = start + duration
    for following in later:
        if following > end:
            break
        end = max(end, following + duration)
    return Freeze(window, start, end)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FreezeGate:
    windows: tuple[FreezeWindow, ...]
    clock: Callable[[], datetime] = field(default=_utc_now, compare=False)
    name: str = "freeze"

    def check(self, context: GateContext) -> GateVerdict:
        now = self.clock()
        frozen = freezes_in_force(self.windows, now)
        if not frozen:
            upcoming = sorted(
                (f for f in (next_freeze(w, now) for w in self.windows) if f is not None),
                key=lambda f: f.start,
            )
            if not upcoming:
                return passed("no freeze window in force")
            first = upcoming[0]
            return passed(
                f"no freeze window in force; next: {first.window.name!r} from "
                f"{first.local(first.start)}",
                next=first.as_json(),
            )
        reason = "; ".join(f.describe() for f in frozen)
        figures = {"in_force": [f.as_json() for f in frozen]}
        override = context.override
        if override is None:
            return failed(reason, **figures)
        for freeze in frozen:
            context.needs_approval.append(
                f"deploying during freeze {freeze.window.name!r}: {override.reason}"
            )
        return GateVerdict("overridden", reason, figures)


def gate(settings: EnvironmentSettings) -> FreezeGate | None:
    windows = tuple(settings.gates.freeze)
    return FreezeGate(windows) if windows else None
