"""Outbox repository: the alerts waiting to be sent (``notifications``) and the conditions
firing per environment (``alert_states``).

A group is one (channel, environment): what one message carries. Claiming a group is a lease:
one transaction takes its pending, unclaimed, due rows (oldest first, at most ``limit``) for
``holder`` until ``claimed_until``, and only when no other holder's lease on the group is live,
so two processes never send the same row, nor two halves of one group at once. SQLite's BEGIN
IMMEDIATE excludes every other writer for that transaction; on PostgreSQL a transaction-level
advisory lock per group does. The rows of a message are then marked delivered together, by
their holder only: a holder whose lease lapsed (it hung past ``claimed_until``) changes
nothing, and the next holder sends the rows again (receivers drop the duplicate by the row id).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from safeship.registry.alert_states import (
    AlertState,
    clear_state,
    save_state,
    state,
    state_key,
)
from safeship.registry.sql import (
    Row,
    Tx,
    advisory_lock,
    db_id,
    db_json,
    db_time,
    to_id,
    to_json,
    to_optional_time,
    to_time,
)

STATUSES: Final = ("pending", "delivered", "failed", "dropped")
ERROR_LEN: Final = 500


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A row to write: one alert (its JSON, without id) for one channel."""

    channel: str
    fallbacks: tuple[str, ...]
    environment: str
    condition: str
    severity: str
    state: str
    alert: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PendingGroup:
    channel: str
    environment: str
    oldest: datetime  # the oldest pending row's created_at
    due: datetime  # the earliest next_attempt_at
    claimed_until: datetime | None  # the latest live claim on the group, if any
    last_delivered: datetime | None  # the group's last message
    claimed_by: str | None = None  # who holds that claim


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    id: str
    created_at: datetime
    channel: str
    fallbacks: tuple[str, ...]
    environment: str
    alert: dict[str, Any]
    attempts: int


def group_key(channel: str, environment: str) -> str:
    return f"{channel}/{environment}"


def enqueue(
    tx: Tx,
    alert: dict[str, Any],
    deliveries: Sequence[Sequence[str]],
    stateful: bool,
    repeat_interval: float,
    now: datetime,
) -> list[str]:
    """One alert's rows and state (see ``Registry.enqueue_alerts``)."""
    environment, condition = str(alert["environment"]), str(alert["condition"])
    severity, alert_state = str(alert["severity"]), str(alert["state"])
    deployment_id = alert.get("deployment_id")
    subject = alert.get("subject")
    key = state_key(condition, str(subject) if subject else None)
    if alert_state == "resolved":
        firing = state(tx, environment, key)
        if firing is None:
            return []
        clear_state(tx, environment, key)
        deliveries = firing.deliveries
    elif stateful:
        firing = state(tx, environment, key)
        if firing is not None and _repeat(firing, deployment_id, severity, now, repeat_interval):
            return []
        save_state(
            tx,
            AlertState(
                environment,
                key,
                severity,
                firing.firing_since if firing is not None else now,
                now,
                _canonical_id(deployment_id),
                tuple(tuple(d) for d in deliveries),
            ),
        )
    rows = [
        NewNotification(d[0], tuple(d[1:]), environment, condition, severity, alert_state, alert)
        for d in deliveries
        if d
    ]
    return insert(tx, rows, now)


_RANKS: Final = ("info", "warning", "error", "critical")


def _repeat(
    firing: AlertState, deployment_id: object, severity: str, now: datetime, interval: float
) -> bool:
    """A re-raise of what is firing (the same deployment, or none), no worse, too soon."""
    same = deployment_id is None or firing.deployment_id in (None, _canonical_id(deployment_id))
    worse = _rank(severity) > _rank(firing.severity)
    return same and not worse and now - firing.last_notified < timedelta(seconds=interval)


def _rank(severity: str) -> int:
    return _RANKS.index(severity) if severity in _RANKS else 0


def _canonical_id(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None


def insert(tx: Tx, rows: Sequence[NewNotification], now: datetime) -> list[str]:
    ids = []
    for row in rows:
        row_id = str(uuid.uuid4())
        ids.append(row_id)
        tx.run(
            "INSERT INTO notifications (id, created_at, channel, fallbacks, environment, "
            "condition, severity, state, alert, group_key, status, attempts, next_attempt_at) "
            "VALUES (:id, :now, :channel, :fallbacks, :environment, :condition, :severity, "
            ":state, :alert, :group_key, 'pending', 0, :now)",
            {
                "id": db_id(row_id),
                "now": db_time(tx, now),
                "channel": row.channel,
                "fallbacks": db_json(list(row.fallbacks)),
                "environment": row.environment,
                "condition": row.condition,
                "severity": row.severity,
                "state": row.state,
                "alert": db_json(row.alert),
                "group_key": group_key(row.channel, row.environment),
            },
        )
    return ids


def pending_groups(tx: Tx, now: datetime) -> list[PendingGroup]:
    rows = tx.rows(
        "SELECT channel, environment, MIN(created_at), MIN(next_attempt_at), "
        "MAX(CASE WHEN claimed_until > :now THEN claimed_until END), "
        "MAX(CASE WHEN claimed_until > :now THEN claimed_by END) "
        "FROM notifications WHERE status = 'pending' GROUP BY channel, environment",
        {"now": db_time(tx, now)},
    )
    groups = []
    for channel, environment, oldest, due, claimed, holder in rows:
        last = tx.rows(
            "SELECT MAX(delivered_at) FROM notifications WHERE group_key = :key "
            "AND status = 'delivered'",
            {"key": group_key(channel, environment)},
        )
        groups.append(
            PendingGroup(
                channel,
                environment,
                to_time(oldest),
                to_time(due),
                to_optional_time(claimed),
                to_optional_time(last[0][0]) if last else None,
                holder,
            )
        )
    return groups


def claim(
    tx: Tx,
    channel: str,
    environment: str,
    holder: str,
    now: datetime,
    until: datetime,
    limit: int,
) -> list[ClaimedNotification]:
    key = group_key(channel, environment)
    advisory_lock(tx, key)
    params = {"key": key, "now": db_time(tx, now), "holder": holder}
    live = tx.rows(
        "SELECT 1 FROM notifications WHERE group_key = :key AND status = 'pending' "
        "AND claimed_until > :now AND claimed_by <> :holder",
        params,
    )
    if live:
        return []
    rows = tx.rows(
        "SELECT id, created_at, channel, fallbacks, environment, alert, attempts "
        "FROM notifications WHERE group_key = :key AND status = 'pending' "
        "AND (claimed_until IS NULL OR claimed_until <= :now) AND next_attempt_at <= :now "
        f"ORDER BY created_at, id LIMIT {int(limit)}",
        params,
    )
    claimed = [_claimed(row) for row in rows]
    for item in claimed:
        tx.run(
            "UPDATE notifications SET claimed_by = :holder, claimed_until = :until "
            "WHERE id = :id AND status = 'pending'",
            {"holder": holder, "until": db_time(tx, until), "id": db_id(item.id)},
        )
    return claimed


def release_claims(tx: Tx, holder: str) -> int:
    """Give up ``holder``'s claims on pending rows (it is known to be dead)."""
    return tx.run(
        "UPDATE notifications SET claimed_until = NULL "
        "WHERE claimed_by = :holder AND status = 'pending'",
        {"holder": holder},
    )


def mark_delivered(tx: Tx, ids: Sequence[str], holder: str, now: datetime) -> int:
    done = 0
    for row_id in ids:
        done += tx.run(
            "UPDATE notifications SET status = 'delivered', delivered_at = :now, "
            "attempts = attempts + 1, claimed_until = NULL, last_error = NULL "
            "WHERE id = :id AND claimed_by = :holder AND status = 'pending'",
            {"now": db_time(tx, now), "id": db_id(row_id), "holder": holder},
        )
    return done


def retry_later(
    tx: Tx, ids: Sequence[str], holder: str, next_attempt_at: datetime, error: str
) -> None:
    for row_id in ids:
        tx.run(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = :next, "
            "claimed_until = NULL, last_error = :error "
            "WHERE id = :id AND claimed_by = :holder AND status = 'pending'",
            {
                "next": db_time(tx, next_attempt_at),
                "error": error[:ERROR_LEN],
                "id": db_id(row_id),
                "holder": holder,
            },
        )


def fall_back(
    tx: Tx,
    ids: Sequence[str],
    holder: str,
    now: datetime,
    error: str,
    *,
    hold: tuple[float, float] | None = None,
) -> int:
    """Move each row to its route's next channel (attempts from zero); with none left, mark it
    failed, or, with ``hold`` = (wait, give_up_after), keep it pending ``wait`` seconds more
    unless it is ``give_up_after`` seconds old (a channel that is down: the next pass or the
    next process tries again). The number that moved."""
    moved = 0
    for row_id in ids:
        rows = tx.rows(
            "SELECT fallbacks, environment, channel, created_at FROM notifications "
            "WHERE id = :id AND claimed_by = :holder AND status = 'pending'",
            {"id": db_id(row_id), "holder": holder},
        )
        if not rows:
            continue
        fallbacks = [str(c) for c in to_json(rows[0][0]) or []]
        message = f"{rows[0][2]}: {error}"[:ERROR_LEN]
        if not fallbacks and hold is not None:
            wait, give_up_after = hold
            created = to_time(rows[0][3])
            if (now - created).total_seconds() < give_up_after:
                tx.run(
                    "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = :next, "
                    "claimed_by = NULL, claimed_until = NULL, last_error = :error WHERE id = :id",
                    {
                        "next": db_time(tx, now + timedelta(seconds=wait)),
                        "error": message,
                        "id": db_id(row_id),
                    },
                )
                continue
        if fallbacks:
            moved += 1
            tx.run(
                "UPDATE notifications SET channel = :channel, fallbacks = :rest, "
                "group_key = :key, attempts = 0, next_attempt_at = :now, claimed_by = NULL, "
                "claimed_until = NULL, last_error = :error WHERE id = :id",
                {
                    "channel": fallbacks[0],
                    "rest": db_json(fallbacks[1:]),
                    "key": group_key(fallbacks[0], rows[0][1]),
                    "now": db_time(tx, now),
                    "error": message,
                    "id": db_id(row_id),
                },
            )
        else:
            tx.run(
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, "
                "claimed_until = NULL, last_error = :error WHERE id = :id",
                {"error": message, "id": db_id(row_id)},
            )
    return moved


def counts(tx: Tx) -> dict[str, int]:
    rows = tx.rows("SELECT status, COUNT(*) FROM notifications GROUP BY status")
    found = dict.fromkeys(STATUSES, 0)
    found.update({str(status): int(n) for status, n in rows})
    return found


def failures(tx: Tx, limit: int) -> list[tuple[str, str, str, str | None]]:
    """The newest failed or dropped rows: (channel, environment, condition, last_error)."""
    rows = tx.rows(
        "SELECT channel, environment, condition, last_error FROM notifications "
        "WHERE status IN ('failed', 'dropped') ORDER BY created_at DESC "
        f"LIMIT {int(limit)}"
    )
    return [(str(a), str(b), str(c), d) for a, b, c, d in rows]


def _claimed(row: Row) -> ClaimedNotification:
    return ClaimedNotification(
        id=to_id(row[0]),
        created_at=to_time(row[1]),
        channel=row[2],
        fallbacks=tuple(str(c) for c in to_json(row[3]) or []),
        environment=row[4],
        alert=dict(to_json(row[5]) or {}),
        attempts=int(row[6]),
    )
