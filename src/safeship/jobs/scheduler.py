"""The scheduler of `safeship serve`'s background jobs: each job runs on a thread of its own
when its time comes, never twice at once; a job that raises is recorded (one line) and runs
again at its next time.

One scheduler thread decides what is due and starts it; the clock is given (a fake one in
tests, which call :meth:`BackgroundJobs.run_due` instead of starting the thread), and the
thread never sleeps longer than ``MAX_SLEEP`` so a clock step is noticed soon.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TextIO

from safeship.redaction import redact

MAX_SLEEP: Final = 1.0  # seconds: the longest the scheduler waits before looking again
_MAX_ERROR = 300


@dataclass(frozen=True)
class JobStatus:
    name: str  # "outbox", "drift", "watch:production", ...
    enabled: bool
    every_seconds: float | None
    last_started: datetime | None
    last_finished: datetime | None
    last_ok: bool | None
    last_error: str | None  # one line, never a secret, never a traceback
    next_run: datetime | None


class JobFailed(Exception):
    """A run that went wrong in a way the job can say in one line (no traceback kept)."""


# What a run returns: the seconds until its next run, or None for the job's own schedule.
RunResult = float | None


@dataclass(frozen=True)
class Job:
    """One background job: its name, whether it runs, and when.

    ``run(stop)`` does one scheduled run (``stop`` is set when the jobs are stopping: a long
    run looks at it); it may return the seconds until its next run. Else ``next_after(started)``
    is the job's schedule: its next run after one started then (default: ``every_seconds``
    later). The first run of each job is at start.
    """

    name: str
    enabled: bool
    every_seconds: float | None
    run: Callable[[threading.Event], RunResult]
    next_after: Callable[[datetime], datetime] | None = None
    # A run a user asked for (`safeship jobs run NAME`), when it differs from the scheduled
    # one (the drift check: even an environment another process checked this period).
    manual: Callable[[threading.Event], RunResult] | None = None

    def following(self, now: datetime) -> datetime:
        if self.next_after is not None:
            return self.next_after(now)
        return now + timedelta(seconds=self.every_seconds or 60.0)


class _Slot:
    """A job and its state: the lock that keeps it from running twice at once."""

    def __init__(self, job: Job, now: datetime) -> None:
        self.job = job
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.status = JobStatus(
            name=job.name,
            enabled=job.enabled,
            every_seconds=job.every_seconds,
            last_started=None,
            last_finished=None,
            last_ok=None,
            last_error=None,
            next_run=now if job.enabled else None,  # each job's first run: at start
        )


class BackgroundJobs:
    """The jobs of one process: :meth:`start` them (threads, returns at once), read their
    :meth:`statuses`, :meth:`run_now` one, :meth:`stop` them (bounded, idempotent)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        clock: Callable[[], datetime] | None = None,
        errors: TextIO | None = None,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be distinct: {names}")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._errors = errors
        self._guard = threading.Lock()  # the slots' statuses
        now = self._clock()
        self._slots = {job.name: _Slot(job, now) for job in jobs}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the face ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler thread (once); returns at once."""
        with self._guard:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._loop, name="safeship-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop starting runs, tell running ones to stop, and wait for them at most
        ``timeout`` seconds in all (a run still going is a daemon thread: it does not hold up
        the process's exit). Idempotent."""
        deadline = time.monotonic() + max(timeout, 0.0)
        self._stop.set()
        self._wake.set()
        with self._guard:
            threads = [self._thread] + [slot.thread for slot in self._slots.values()]
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def statuses(self) -> tuple[JobStatus, ...]:
        with self._guard:
            return tuple(slot.status for slot in self._slots.values())

    def status(self, name: str) -> JobStatus:
        with self._guard:
            return self._slot(name).status

    def run_now(self, name: str) -> JobStatus:
        """Run ``name`` on this thread now (after its run in progress, if one is); its status
        after. A job switched off runs too: the caller asked for it."""
        slot = self._slot(name)
        self._run(slot, manual=True)
        return self.status(name)

    def run_due(self) -> list[str]:
        """Run every enabled job whose time has come, one after the other on this thread
        (tests with a fake clock); the names run."""
        ran = []
        for slot in self._due():
            self._run(slot)
            ran.append(slot.job.name)
        return ran

    # -- the thread ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            for slot in self._due():
                with self._guard:
                    if slot.thread is not None and slot.thread.is_alive():
                        continue
                    slot.thread = threading.Thread(
                        target=self._run,
                        args=(slot,),
                        name=f"safeship-job-{slot.job.name}",
                        daemon=True,
                    )
                    slot.thread.start()
            self._wake.wait(self._sleep())
            self._wake.clear()

    def _sleep(self) -> float:
        now = self._clock()
        soonest = MAX_SLEEP
        with self._guard:
            for slot in self._slots.values():
                if slot.status.next_run is not None and not slot.lock.locked():
                    soonest = min(soonest, (slot.status.next_run - now).total_seconds())
        return max(soonest, 0.01)

    def _due(self) -> list[_Slot]:
        if self._stop.is_set():
            return []
        now = self._clock()
        with self._guard:
            return [
                slot
                for slot in self._slots.values()
                if slot.job.enabled
                and slot.status.next_run is not None
                and slot.status.next_run <= now
                and not slot.lock.locked()
            ]

    def _run(self, slot: _Slot, *, manual: bool = False) -> None:
        with slot.lock:  # never twice at once: a second caller waits for the first
            started = self._clock()
            with self._guard:
                slot.status = replace(slot.status, last_started=started)
            error: str | None = None
            delay: RunResult = None
            try:
                run = slot.job.manual if manual and slot.job.manual else slot.job.run
                delay = run(self._stop)
            except Exception as exc:  # recorded; the job runs again at its next time
                error = one_line(exc)
            finished = self._clock()
            if delay is not None:
                following: datetime = finished + timedelta(seconds=max(delay, 0.0))
            else:
                following = slot.job.following(started)
                if following <= finished:  # a run longer than its interval: next one now
                    following = finished
            with self._guard:
                repeated = error is not None and error == slot.status.last_error
                slot.status = replace(
                    slot.status,
                    last_finished=finished,
                    last_ok=error is None,
                    last_error=error,
                    next_run=following if slot.job.enabled else None,
                )
            if error is not None and not repeated:  # the same failure once, not every run
                line = f"safeship: warning: job {slot.job.name}: {error}"
                print(line, file=self._errors or sys.stderr)
        self._wake.set()

    def _slot(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            known = ", ".join(self._slots) or "none"
            raise UnknownJob(f"no job {name!r} (jobs: {known})")
        return slot


class UnknownJob(Exception):
    """The job named is not one of this process's; one line for the user."""


def one_line(exc: BaseException) -> str:
    """An exception as one redacted line, cut to a readable length (never a traceback)."""
    text = " ".join(str(exc).split())
    line = (
        text
        if isinstance(exc, JobFailed) and text
        else (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    )
    line = redact(line)
    return line if len(line) <= _MAX_ERROR else line[: _MAX_ERROR - 1] + "…"
