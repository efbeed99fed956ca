"""The bake: watch a release for a while under the rollback rules and the canary judge, and
return how it ended (a verdict), without acting on it: the rollout promotes, goes on or rolls
back.

One poll every ``POLL_INTERVAL``: the release's figures since the bake began (from a
:class:`~safeship.analysis.metrics.MetricSource`), the guards (the release's process still
alive), the judge at a judged canary step, the error rate, then the other watchers (health
checks, latency and resources sustained over their window), and every
``REQUEST_POLL_INTERVAL`` the manual requests (`safeship abort` at any time, `safeship
promote` at a pause). Watchers are objects the rollout builds once per deployment, so the
state of consecutive and sustained rules carries across steps into monitoring.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from safeship.analysis.judge import BakeDecision, CanaryBake
from safeship.analysis.metrics import CounterSource, MetricSource, Reading, metric_source
from safeship.analysis.rules import Sustain, Verdict, error_rate_verdict, latency_verdict
from safeship.config.models import RollbackRules
from safeship.deployment_status import Status
from safeship.routing.base import BackendStats

# How often the bake looks at the release and its figures.
POLL_INTERVAL = 0.1
# How often a bake reads the manual requests (`safeship abort` any time, `safeship promote` at
# a pause): they are registry reads.
REQUEST_POLL_INTERVAL = 0.25
# Readings of the figures kept per sustain window, for the latency over the last window.
WINDOW_SNAPSHOTS = 100


class Clock(Protocol):
    """Monotonic time and waiting (a fake one makes a bake instant in unit tests)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class ManualRequest:
    """A person's request to the running deployment."""

    action: Literal["promote", "abort"]
    by: str  # the command that asked ("abort", "rollback", "promote"), named in the reason


@dataclass(frozen=True)
class BakePhase:
    """What one bake watches: a traffic step's bake, a pause, or the monitoring window."""

    release: str
    stable: str | None  # the release it is compared with (None: a first deployment)
    step: int | None  # the new release's traffic share (percent)
    status: Status  # progressing or monitoring (named in a manual abort's reason)
    seconds: float  # the bake time; a pause's timeout
    analysis: CanaryBake | None = None  # the canary judge, at a judged step
    paused: bool = False  # only `safeship promote`, an abort or the timeout end a pause


@dataclass(frozen=True)
class Poll:
    """One look at the release: when, the source's reading now, and the source (a watcher
    reads its own windows from it)."""

    now: float
    reading: Reading
    phase: BakePhase
    metrics: MetricSource


class Watcher(Protocol):
    """One rule (or a few) watched at every poll."""

    def begin(self, now: float) -> None:
        """A bake starts (e.g. a health check is due at once)."""
        ...

    def observe(self, poll: Poll) -> Verdict | None:
        """The rule that fired at this poll, else None."""
        ...


Ending = Literal["healthy", "promoted", "rollback"]


@dataclass(frozen=True)
class BakeOutcome:
    """How a bake ended: ``healthy`` (its time is over, the rules quiet and the judge, if any,
    passed), ``promoted`` (`safeship promote` at a pause), or ``rollback`` with the rule that
    fired (``verdict``)."""

    ending: Ending
    verdict: Verdict | None = None
    decision: BakeDecision | None = None  # the judge's last, at a judged step


def sustain_span(rules: RollbackRules, phase: BakePhase) -> float:
    """How long a sustained rule's condition must hold: shorter at a canary step."""
    canary = phase.stable is not None and phase.step is not None and phase.step < 100
    return rules.canary_window if canary else rules.window


class LatencyWatch:
    """The release's p95 over the last sustain window against the stable release's (or the
    stored baseline), sustained for the window."""

    def __init__(self, rules: RollbackRules, stored_p95_ms: float | None) -> None:
        self.rules = rules
        self.stored_p95_ms = stored_p95_ms
        self.sustain = Sustain()
        # (when, reading): readings for the figures over the last sustain window.
        self.snapshots: deque[tuple[float, Reading]] = deque()

    def begin(self, now: float) -> None:
        pass  # the window spans bakes: it carries across steps

    def observe(self, poll: Poll) -> Verdict | None:
        now, reading, phase = poll.now, poll.reading, poll.phase
        span = sustain_span(self.rules, phase)
        if not self.snapshots or now - self.snapshots[-1][0] >= span / WINDOW_SNAPSHOTS:
            self.snapshots.append((now, reading))
        while len(self.snapshots) > 1 and self.snapshots[1][0] <= now - span:
            self.snapshots.popleft()
        last = poll.metrics.window(self.snapshots[0][1], reading)
        mine = last.get(phase.release, BackendStats())
        stable = None if phase.stable is None else last.get(phase.stable, BackendStats())
        current = latency_verdict(mine, stable, self.stored_p95_ms, self.rules)
        return self.sustain.observe("latency", current, now, span)


class Bake:
    """Watches the release bake after bake (one per step, pause and monitoring window)."""

    def __init__(
        self,
        metrics: MetricSource | CounterSource,
        rules: RollbackRules,
        *,
        guards: Sequence[Watcher] = (),
        watchers: Sequence[Watcher] = (),
        requests: Callable[[], ManualRequest | None] = lambda: None,
        on_poll: Callable[[dict[str, BackendStats], BakeDecision | None], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.metrics = metric_source(metrics)
        self.rules = rules
        self.guards = guards  # before the figures are judged (a dead process explains them)
        self.watchers = watchers
        self.requests = requests
        self.on_poll = on_poll
        self.clock = clock or SystemClock()

    def run(self, phase: BakePhase) -> BakeOutcome:
        """Watch for ``phase.seconds`` (longer while the judge extends it); how it ended."""
        clock, analysis = self.clock, phase.analysis
        start = self.metrics.reading()
        began = clock.now()
        deadline = began + phase.seconds
        # The judge decides by the end of its extension plus a sustained failure at the latest;
        # this bound only guards the loop.
        limit = deadline + (
            analysis.settings.nodata_extension + analysis.settings.sustain + 1.0 if analysis else 0
        )
        for watcher in (*self.guards, *self.watchers):
            watcher.begin(began)
        next_request = began
        decision: BakeDecision | None = None
        while True:
            reading = self.metrics.reading()
            now = clock.now()
            poll = Poll(now, reading, phase, self.metrics)
            fired = _first(self.guards, poll)
            if fired:
                return BakeOutcome("rollback", fired, decision)
            since = self.metrics.window(start, reading)
            mine = since.get(phase.release, BackendStats())
            if analysis is not None and phase.stable is not None:
                stable = since.get(phase.stable, BackendStats())
                decision = analysis.poll(mine, stable, now - began)
            if self.on_poll is not None:
                self.on_poll(since, decision)
            fired = error_rate_verdict(mine, self.rules)
            if fired is None and decision is not None and decision.action == "rollback":
                judged = decision.judgement
                fired = Verdict(
                    "canary_analysis",
                    decision.reason,
                    {"step": phase.step, "score": judged.score, "decision": judged.decision},
                )
            fired = fired or _first(self.watchers, poll)
            if fired:
                return BakeOutcome("rollback", fired, decision)
            now = clock.now()
            if now >= next_request:
                next_request = now + REQUEST_POLL_INTERVAL
                answered = self._answer(phase, timed_out=phase.paused and now >= deadline)
                if answered is not None:
                    return BakeOutcome(answered[0], answered[1], decision)
            if phase.paused:
                pass  # only an answer (or the pause's timeout, above) ends a pause
            elif now >= deadline and (decision is None or decision.action == "promote"):
                return BakeOutcome("healthy", None, decision)
            elif now >= limit:
                assert decision is not None
                return BakeOutcome(
                    "rollback",
                    Verdict(
                        "canary_analysis",
                        f"canary analysis undecided after {now - began:.0f} s: " + decision.reason,
                        {"step": phase.step, "score": decision.judgement.score, "undecided": True},
                    ),
                    decision,
                )
            clock.sleep(POLL_INTERVAL)

    def _answer(self, phase: BakePhase, *, timed_out: bool) -> tuple[Ending, Verdict | None] | None:
        """An abort (at any time) rolls back; at a pause, a promote ends it and its timeout
        rolls back; else None."""
        request = self.requests()
        if request is not None and request.action == "abort":
            monitoring = " while monitoring" if phase.status is Status.MONITORING else ""
            # A command ("abort") or a person through the dashboard ("dashboard:alice").
            by = request.by if ":" in request.by else f"safeship {request.by}"
            return "rollback", Verdict(
                "manual",
                f"aborted at {phase.step}%{monitoring} by `{by}`",
                {"step": phase.step, "status": phase.status.value, "by": by},
            )
        if not phase.paused:
            return None
        if request is not None and request.action == "promote":
            return "promoted", None
        if timed_out:
            return "rollback", Verdict(
                "pause_timeout",
                f"paused at {phase.step}% for {phase.seconds:g} s without `safeship promote`",
                {"step": phase.step, "timeout_s": phase.seconds},
            )
        return None


def _first(watchers: Sequence[Watcher], poll: Poll) -> Verdict | None:
    for watcher in watchers:
        verdict = watcher.observe(poll)
        if verdict:
            return verdict
    return None
