"""The background jobs' scheduler with a fake clock: when each job runs, what a failure leaves,
never two runs of a job at once, and a bounded stop."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from safeship.jobs.drift import next_period, period_start, run_key
from safeship.jobs.scheduler import BackgroundJobs, Job, JobFailed, RunResult, UnknownJob
from safeship.jobs.settings import DriftJobSettings
from safeship.redaction import register_secret

T0 = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Counting:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.runs = 0
        self.fail = fail

    def __call__(self, stop: threading.Event) -> RunResult:
        self.runs += 1
        if self.fail is not None:
            raise self.fail
        return None


def test_an_interval_job_runs_when_its_time_comes() -> None:
    clock = FakeClock()
    outbox = Counting()
    jobs = BackgroundJobs([Job("outbox", True, 5.0, outbox)], clock=clock)
    assert jobs.status("outbox").next_run == T0
    assert jobs.run_due() == ["outbox"]
    clock.advance(4.9)
    assert jobs.run_due() == []
    clock.advance(0.1)
    assert jobs.run_due() == ["outbox"]
    status = jobs.status("outbox")
    assert outbox.runs == 2
    assert status.last_ok is True and status.last_error is None
    assert status.last_started == status.last_finished == T0 + timedelta(seconds=5)
    assert status.next_run == T0 + timedelta(seconds=10)


def test_a_job_switched_off_is_not_scheduled_but_runs_when_asked() -> None:
    clock = FakeClock()
    watch = Counting()
    jobs = BackgroundJobs([Job("watch:production", False, 60.0, watch)], clock=clock)
    assert jobs.status("watch:production").next_run is None
    assert jobs.run_due() == []
    assert jobs.run_now("watch:production").last_ok is True
    assert watch.runs == 1 and jobs.status("watch:production").next_run is None


def test_a_failing_job_is_one_redacted_line_and_runs_again_at_its_next_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    register_secret("s3cr3t-token-value")
    clock = FakeClock()
    failing = Counting(RuntimeError("connect to https://u:s3cr3t-token-value@db failed\nline 2"))
    jobs = BackgroundJobs([Job("drift", True, 60.0, failing)], clock=clock)
    jobs.run_due()
    status = jobs.status("drift")
    assert status.last_ok is False
    assert status.last_error is not None
    assert status.last_error.startswith("RuntimeError: connect to")
    assert "\n" not in status.last_error and "s3cr3t-token-value" not in status.last_error
    assert "Traceback" not in status.last_error
    assert status.next_run == T0 + timedelta(seconds=60)
    clock.advance(60)
    jobs.run_due()  # the same failure again: warned once, not at every run
    assert capsys.readouterr().err.count("job drift:") == 1
    failing.fail = None
    clock.advance(60)
    jobs.run_due()
    assert jobs.status("drift").last_ok is True and jobs.status("drift").last_error is None
    assert failing.runs == 3


def test_a_job_failed_says_its_own_line() -> None:
    jobs = BackgroundJobs([Job("drift", True, 60.0, Counting(JobFailed("production: no schema")))])
    assert jobs.run_now("drift").last_error == "production: no schema"


def test_a_run_may_set_its_next_time_and_a_schedule_its_own() -> None:
    clock = FakeClock()
    settings = DriftJobSettings(at="04:00")
    jobs = BackgroundJobs(
        [
            Job("watch:production", True, 60.0, lambda stop: 10.0),
            Job("drift", True, 86_400.0, Counting(),
                next_after=lambda started: next_period(settings, started)),
        ],
        clock=clock,
    )  # fmt: skip
    jobs.run_due()
    assert jobs.status("watch:production").next_run == T0 + timedelta(seconds=10)
    assert jobs.status("drift").next_run == datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def test_the_drift_periods_daily_at_a_time_or_every_n_seconds() -> None:
    daily = DriftJobSettings(at="04:00")
    assert period_start(daily, T0) == datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    assert next_period(daily, T0) == datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    at_four = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    assert period_start(daily, at_four) == at_four
    assert next_period(daily, at_four) == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    hourly = DriftJobSettings(at="", every=3600.0)
    assert period_start(hourly, T0) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert next_period(hourly, T0) == datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    assert run_key("production", period_start(daily, T0)) == "production/2026-11-29T04:00"


def test_the_drift_time_of_day_is_checked() -> None:
    with pytest.raises(ValueError, match="'25:00' is not a time of day HH:MM"):
        DriftJobSettings(at="25:00")


def test_an_unknown_job_is_one_line() -> None:
    jobs = BackgroundJobs([Job("outbox", True, 5.0, Counting())])
    with pytest.raises(UnknownJob, match=r"^no job 'nope' \(jobs: outbox\)$"):
        jobs.run_now("nope")


def test_a_job_never_runs_twice_at_once() -> None:
    inside = 0
    most = 0
    entered = threading.Event()
    release = threading.Event()
    guard = threading.Lock()

    def slow(stop: threading.Event) -> RunResult:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        entered.set()
        release.wait(5)
        with guard:
            inside -= 1
        return None

    jobs = BackgroundJobs([Job("drift", True, 0.01, slow)])
    jobs.start()
    try:
        assert entered.wait(5)
        asked = threading.Thread(target=jobs.run_now, args=("drift",))
        asked.start()  # waits for the scheduler's run to end
        time.sleep(0.1)
        release.set()
        asked.join(5)
        assert not asked.is_alive()
    finally:
        jobs.stop(timeout=2)
    assert most == 1


def test_started_jobs_run_in_the_background_and_stop_is_bounded_and_idempotent() -> None:
    ran = threading.Event()
    stuck = threading.Event()

    def quick(stop: threading.Event) -> RunResult:
        ran.set()
        return None

    def ignores_stop(stop: threading.Event) -> RunResult:
        stuck.set()
        time.sleep(3)  # a run that does not look at ``stop``
        return None

    jobs = BackgroundJobs(
        [Job("outbox", True, 0.05, quick), Job("watch:p", True, 60.0, ignores_stop)]
    )
    jobs.start()
    jobs.start()  # once
    assert ran.wait(5) and stuck.wait(5)
    began = time.monotonic()
    jobs.stop(timeout=0.3)
    assert time.monotonic() - began < 1.0
    jobs.stop(timeout=0.3)
    assert jobs.status("outbox").last_ok is True
    runs = jobs.status("outbox").last_finished
    time.sleep(0.15)
    assert jobs.status("outbox").last_finished == runs  # nothing starts after stop
