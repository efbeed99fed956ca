"""Delivery: one background thread per process takes ripe groups from the outbox and sends
each as one Notification.

A group (channel, environment) is ripe when its oldest pending alert has waited ``group_wait``,
the group's last message is ``group_interval`` old, and its rows are due (a retry's backoff has
passed). The rows are claimed (a lease in the registry: see registry/outbox.py), sent in one
message (oldest first, at most ``MAX_ALERTS``; the rest go in the next), and marked delivered
together. A failed attempt is retried after a backoff (the channel's Retry-After when it gave
one), bounded by ``max_retry_wait``; after ``retries`` the rows move to the route's next channel.
With none left, a channel that refused them (``DeliveryError.permanent``) has them marked
failed, their last error kept; one that is down keeps them pending, tried again every
``max_retry_wait`` by this process or the next, until ``give_up_after``. A channel's
``min_interval`` is waited out between two of its messages.

Each send runs on a daemon thread of its own, one per channel at a time: a channel that hangs
holds up neither the others nor the process's exit. ``close`` delivers what is ripe (group_wait
cut short) within a bounded wait and leaves the rest pending for the next safeship process.
The claims of a process of this machine that has died (killed mid-send) are released at once
rather than waited out.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, TextIO

from safeship.alerts.codec import alert_from_json
from safeship.alerts.settings import AlertSettings
from safeship.notify.base import DeliveryError, Notification, Notifier
from safeship.redaction import redact

if TYPE_CHECKING:
    from safeship.registry import Registry
    from safeship.registry.outbox import ClaimedNotification, PendingGroup

MAX_ALERTS: Final = 50
BASE_BACKOFF: Final = 0.5  # seconds before the first retry; doubled each time
LEASE: Final = 30.0  # a claim's lease: longer than any channel's bounded send
POLL: Final = 1.0  # the longest sleep: rows another process wrote are seen this soon


class Dispatcher:
    def __init__(
        self,
        registry: Registry,
        channels: Mapping[str, Notifier],
        settings: AlertSettings,
        *,
        errors: TextIO | None = None,
        now: Callable[[], datetime] | None = None,
        holder: str | None = None,
        lease: float = LEASE,
    ) -> None:
        self._registry = registry
        self._channels = dict(channels)
        self._settings = settings
        self._errors = errors
        self._now = now or (lambda: datetime.now(UTC))
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease = lease
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Thread] = {}
        self._last_sent: dict[str, float] = {}  # channel → time.monotonic() of its last send
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self.sent = 0  # messages delivered by this process
        self.maybe_duplicated = 0  # attempts that may have arrived although they failed

    # -- the background thread -----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None and self._channels:
            self._thread = threading.Thread(target=self._run, name="safeship-alerts", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """New rows were written: look now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.dispatch()
            self._wake.wait(min(POLL, max(wait, 0.01)))
            self._wake.clear()

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is ripe (not waiting for group_wait) within ``timeout`` seconds (the
        settings' close_timeout by default); what is left stays pending. Never raises."""
        limit = self._settings.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            self._closing = True
            if self._thread is not None:
                self._stop.set()
                self._wake.set()
                self._thread.join(max(0.0, deadline - time.monotonic()))
            while time.monotonic() < deadline:
                wait = self.dispatch()
                busy = self._join_senders(deadline)
                if not busy and (wait == float("inf") or time.monotonic() + wait >= deadline):
                    break
                if not busy:
                    time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            self._join_senders(deadline)
        except Exception as exc:  # closing must never fail the command
            self._warn(f"alerts: {_one_line(exc)}")
        for name, channel in self._channels.items():
            try:
                if name not in self._in_flight:
                    channel.close()
            except Exception as exc:
                self._warn(f"alerts: closing {name}: {_one_line(exc)}")

    def _join_senders(self, deadline: float) -> bool:
        """Wait for the sends in flight until ``deadline``; whether one is still running."""
        with self._lock:
            threads = list(self._in_flight.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return any(t.is_alive() for t in self._in_flight.values())

    # -- one pass ------------------------------------------------------------------------------

    def dispatch(self, *, wait: bool = False) -> float:
        """Start sending every ripe group whose channel is free; the seconds until the next
        group ripens (inf: nothing pending that this process can send). ``wait``: send on
        this thread (tests with a fake clock)."""
        if not self._channels:
            return float("inf")  # nothing to send with: not even a read of the outbox
        try:
            groups = self._registry.outbox_groups()
        except Exception as exc:
            self._warn(f"alerts: cannot read the outbox: {_one_line(exc)}")
            return POLL
        now = self._now()
        soonest = float("inf")
        for group in groups:
            if group.channel not in self._channels:
                continue  # not configured here: left for a process that has it
            if group.claimed_by is not None and _dead_here(group.claimed_by):
                # Killed mid-send on this machine: its rows need not wait out its lease.
                self._registry.release_claims(group.claimed_by)
                group = dataclasses.replace(group, claimed_until=None, claimed_by=None)
            ripe_at = self._ripe_at(group)
            delay = (ripe_at - now).total_seconds()
            if delay > 0:
                soonest = min(soonest, delay)
                continue
            with self._lock:
                if group.channel in self._in_flight:
                    soonest = min(soonest, 0.05)
                    continue
                if wait:
                    self._in_flight[group.channel] = threading.current_thread()
                else:
                    thread = threading.Thread(
                        target=self._deliver,
                        args=(group.channel, group.environment),
                        name=f"safeship-alerts-{group.channel}",
                        daemon=True,
                    )
                    self._in_flight[group.channel] = thread
                    thread.start()
            if wait:
                self._deliver(group.channel, group.environment)
        return soonest

    def _ripe_at(self, group: PendingGroup) -> datetime:
        wait = 0.0 if self._closing else self._settings.group_wait
        ripe = max(group.oldest + timedelta(seconds=wait), group.due)
        if group.last_delivered is not None and not self._closing:
            interval = timedelta(seconds=self._settings.group_interval)
            ripe = max(ripe, group.last_delivered + interval)
        if group.claimed_until is not None:
            ripe = max(ripe, group.claimed_until)
        return ripe

    def _deliver(self, channel: str, environment: str) -> None:
        try:
            self._deliver_group(channel, environment)
        except Exception as exc:
            self._warn(f"alerts: delivering to {channel}: {_one_line(exc)}")
        finally:
            with self._lock:
                self._in_flight.pop(channel, None)
            self._wake.set()

    def _deliver_group(self, channel: str, environment: str) -> None:
        rows = self._registry.claim_notifications(
            channel, environment, self.holder, self._lease, MAX_ALERTS
        )
        if not rows:
            return
        ids = [row.id for row in rows]
        notification = _notification(channel, environment, rows)
        notifier = self._channels[channel]
        gap = getattr(notifier, "min_interval", 0.0) - (
            time.monotonic() - self._last_sent.get(channel, -1e9)
        )
        if gap > 0:
            time.sleep(gap)
        try:
            self._last_sent[channel] = time.monotonic()
            notifier.send(notification)
        except DeliveryError as exc:
            self._failed(channel, rows, ids, exc)
            return
        except Exception as exc:  # a channel's bug is a failed attempt, not a lost alert
            self._failed(channel, rows, ids, DeliveryError(_one_line(exc)))
            return
        self._registry.notifications_delivered(ids, self.holder)
        self.sent += 1

    def _failed(
        self, channel: str, rows: list[ClaimedNotification], ids: list[str], exc: DeliveryError
    ) -> None:
        error = redact(" ".join(str(exc).split())) or type(exc).__name__
        if exc.maybe_delivered:
            self.maybe_duplicated += 1
        attempts = max(row.attempts for row in rows) + 1
        if exc.permanent or attempts > self._settings.retries:
            # A channel that refuses is failed; one that is down is tried again later (by this
            # process or the next) until give_up_after, unless the route has a next channel.
            wait = self._settings.max_retry_wait
            hold = None if exc.permanent else (wait, self._settings.give_up_after)
            moved = self._registry.notifications_fall_back(ids, self.holder, error, hold=hold)
            what = "falling back" if moved else "giving up" if hold is None else "kept to retry"
            self._warn(f"alerts: {channel} failed ({error}); {what}")
            self._wake.set()
            return
        backoff = BASE_BACKOFF * 2 ** (attempts - 1)
        delay = exc.retry_after if exc.retry_after is not None else backoff
        delay = min(max(delay, 0.0), self._settings.max_retry_wait)
        self._registry.notifications_retry(ids, self.holder, delay, error)

    def _warn(self, message: str) -> None:
        line = redact(message)
        if line in self._warned:  # the same failure once, not once a pass
            return
        self._warned.add(line)
        print(f"safeship: warning: {line}", file=self._errors or sys.stderr)


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` ("host:pid:nonce") is a process of this machine that has ended."""
    from safeship._processes import is_running

    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not is_running(int(pid))


def _notification(channel: str, environment: str, rows: list[ClaimedNotification]) -> Notification:
    alerts = tuple(alert_from_json(row.id, row.alert) for row in rows)
    return Notification(id=rows[0].id, channel=channel, environment=environment, alerts=alerts)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
