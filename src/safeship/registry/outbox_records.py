"""The alerts' outbox and states beside the deployments: ``Registry`` inherits these methods
(see ``store``; the SQL is outbox.py's and alert_states.py's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from safeship.registry.errors import RegistryError, check_text, json_object
from safeship.registry.records import ENVIRONMENT_LEN
from safeship.registry.repository import Repository

if TYPE_CHECKING:
    from safeship.registry.alert_states import AlertState
    from safeship.registry.outbox import ClaimedNotification, PendingGroup


class OutboxRecords(Repository):
    """Queue, claim and settle notifications; read the firing conditions. The SQL modules are
    imported on first use: every command opens the registry, only alerting reads the outbox."""

    def enqueue_alert(
        self,
        alert: Mapping[str, Any],
        deliveries: Sequence[Sequence[str]],
        *,
        stateful: bool,
        repeat_interval: float,
    ) -> list[str]:
        """Write one alert to the outbox: ``enqueue_alerts`` with one."""
        return self.enqueue_alerts([(alert, deliveries, stateful)], repeat_interval)

    def enqueue_alerts(
        self,
        alerts: Sequence[tuple[Mapping[str, Any], Sequence[Sequence[str]], bool]],
        repeat_interval: float,
    ) -> list[str]:
        """Write alerts (each: its JSON with environment, condition, severity, state,
        deployment_id...; its deliveries, a route's channels each: the first, then its
        fallbacks; whether its condition is a state that fires and resolves) to the outbox, a
        row per delivery, in one transaction with their states; the rows' ids.

        - a stateful firing alert already firing for the same deployment (or none), no more
          severe, and notified less than ``repeat_interval`` ago is folded: nothing is written;
          else its state is saved with its deliveries;
        - a resolved alert goes to the deliveries its firing one had, and clears the state;
          nothing is written when the condition is not firing.
        """
        from safeship.registry import outbox

        stored = []
        for alert, deliveries, stateful in alerts:
            check_text("environment", str(alert.get("environment", "")), ENVIRONMENT_LEN)
            stored.append((json_object("alert", alert), deliveries, stateful))
        now = self._now()
        ids: list[str] = []
        with self._writing("enqueue alerts") as tx:
            for index, (alert, deliveries, stateful) in enumerate(stored):
                # A microsecond apart: a group's rows come out in the order they were written.
                at = now + timedelta(microseconds=index)
                ids += outbox.enqueue(tx, alert, deliveries, stateful, repeat_interval, at)
        return ids

    def firing_alerts(self, environment: str) -> list[AlertState]:
        """The conditions firing in ``environment``, oldest first."""
        from safeship.registry import alert_states

        with self._reading("read alert states") as tx:
            return alert_states.firing(tx, environment)

    def outbox_groups(self) -> list[PendingGroup]:
        """Each (channel, environment) with pending notifications."""
        from safeship.registry import outbox

        with self._reading("read outbox") as tx:
            return outbox.pending_groups(tx, self._now())

    def claim_notifications(
        self, channel: str, environment: str, holder: str, lease: float, limit: int
    ) -> list[ClaimedNotification]:
        """Claim the group's due rows for ``holder`` for ``lease`` seconds (none when another
        holder's claim on the group is live), oldest first, at most ``limit``."""
        from safeship.registry import outbox

        now = self._now()
        with self._writing("claim notifications") as tx:
            return outbox.claim(
                tx, channel, environment, holder, now, now + timedelta(seconds=lease), limit
            )

    def release_claims(self, holder: str) -> int:
        """Free the rows a dead holder had claimed (the next claim takes them at once)."""
        from safeship.registry import outbox

        with self._writing("release notification claims") as tx:
            return outbox.release_claims(tx, holder)

    def notifications_delivered(self, ids: Sequence[str], holder: str) -> int:
        """Mark a message's rows delivered, all in one transaction; how many were ours."""
        from safeship.registry import outbox

        now = self._now()
        with self._writing("mark notifications delivered") as tx:
            return outbox.mark_delivered(tx, ids, holder, now)

    def notifications_retry(
        self, ids: Sequence[str], holder: str, delay: float, error: str
    ) -> None:
        """One more failed attempt: try again in ``delay`` seconds (claims released)."""
        from safeship.registry import outbox

        now = self._now()
        with self._writing("retry notifications") as tx:
            outbox.retry_later(tx, ids, holder, now + timedelta(seconds=delay), error)

    def notifications_fall_back(
        self,
        ids: Sequence[str],
        holder: str,
        error: str,
        *,
        hold: tuple[float, float] | None = None,
    ) -> int:
        """The channel gave up: each row to its route's next channel; with none left, failed,
        or with ``hold`` (seconds to wait, seconds of age to give up at) kept pending."""
        from safeship.registry import outbox

        now = self._now()
        with self._writing("fall back notifications") as tx:
            return outbox.fall_back(tx, ids, holder, now, error, hold=hold)

    def outbox_counts(self) -> dict[str, int]:
        """Notifications by status (pending, delivered, failed, dropped)."""
        from safeship.registry import outbox

        with self._reading("count notifications") as tx:
            return outbox.counts(tx)

    def outbox_failures(self, limit: int = 10) -> list[tuple[str, str, str, str | None]]:
        """The newest failed notifications: channel, environment, condition, last error."""
        from safeship.registry import outbox

        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        with self._reading("read failed notifications") as tx:
            return outbox.failures(tx, limit)
