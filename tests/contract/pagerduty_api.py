"""A loopback contract server for PagerDuty's Events API v2 (alert events and change events).

Shapes written from PagerDuty's documentation, not recorded from the live API:
- https://developer.pagerduty.com/docs/events-api-v2/overview (response codes: 202 accepted;
  400 invalid event, not retried; 429 "too many API calls at a time", retried "preferably with a
  backoff of a few minutes"; 5xx retried; payloads at most 512 KB; PD-CEF: summary, severity
  critical | error | warning | info, source required; timestamp ISO 8601, component, group,
  class, custom_details (an object) optional)
- https://developer.pagerduty.com/docs/events-api-v2/trigger-events (POST /v2/enqueue:
  routing_key (the 32-character integration key) and event_action trigger | acknowledge |
  resolve required; dedup_key at most 255 characters, required unless triggering; payload
  required to trigger, payload.summary at most 1,024 characters; links [{href (required),
  text}], images [{src (required), href, alt}], client, client_url; a trigger on an open
  dedup_key is added to that alert, a resolve closes it, later triggers open a new one)
- https://developer.pagerduty.com/docs/send-change-events-to-pagerduty (POST /v2/change/enqueue:
  routing_key and payload.summary (at most 1,024) required; payload.source, payload.timestamp,
  payload.custom_details, links optional)
- PagerDuty's OpenAPI description (github.com/PagerDuty/api-schema, reference/events-v2/
  openapiv3.json): 202 {"status": "success", "message": "Event processed", "dedup_key"}; errors
  {"status", "message", "errors": [strings]}.
Checked with the search tool against PagerDuty's developer-docs repository and that OpenAPI
file. Not verified: the texts of the 400 errors (this server's, in the documented shape), the
change event's success message, and whether an unknown routing key is a 400 (assumed: it is
"invalid event" here too). PagerDuty's 429 has no Retry-After: this server's neither.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from loopback import ContractServer

ROUTING_KEY = "R0f3a9c1d2e4b5a6978c0d1e2f3a4b5c"  # 32 characters, like an integration key
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_BODY = 512 * 1024


@dataclass
class PagerAlert:
    """One alert as PagerDuty keeps it: opened by a trigger, closed by a resolve."""

    number: int
    dedup_key: str
    status: str = "triggered"  # triggered | acknowledged | resolved
    events: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # each event's arrival, epoch s


def invalid(*errors: str) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)},
        status=400,
    )


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _links_problem(body: dict[str, Any]) -> str | None:
    for key, required in (("links", "href"), ("images", "src")):
        items = body.get(key, [])
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get(required), str) and i[required] for i in items
        ):
            return f"'{key}' must be a list of objects with '{required}'"
    return None


class PagerDutyServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[PagerAlert] = []  # every alert ever opened, oldest first
        self.changes: list[dict[str, Any]] = []
        self._numbers = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)
        app.router.add_post("/v2/change/enqueue", self._change)

    @staticmethod
    def _fault_response(mode: str) -> web.Response:
        if mode == "429":  # PagerDuty's throttle: no Retry-After
            return web.json_response(
                {
                    "status": "throttle exceeded",
                    "message": "Requests for this service are arriving too quickly.",
                },
                status=429,
            )
        return ContractServer._fault_response(mode)

    def open_alert(self, dedup_key: str) -> PagerAlert | None:
        return next(
            (a for a in self.alerts if a.dedup_key == dedup_key and a.status != "resolved"), None
        )

    async def _event_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if len(raw) > MAX_BODY:
            return invalid("payload exceeds 512 KB")
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {
                    "status": "Unrecognized object",
                    "message": "Event object format is unrecognized",
                    "errors": ["JSON parse error"],
                },
                status=400,
            )
        if not isinstance(body, dict):
            return invalid("Event object must be a JSON object")
        if body.get("routing_key") != ROUTING_KEY:
            return invalid("'routing_key' is invalid")
        return body

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = await self._event_body(request)
        if isinstance(body, web.Response):
            return body
        action = body.get("event_action")
        if action not in ACTIONS:
            return invalid(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        dedup = body.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
            return invalid("'dedup_key' must be a string of at most 255 characters")
        if action != "trigger" and dedup is None:
            return invalid("'dedup_key' is required for acknowledge and resolve events")
        problem = _links_problem(body)
        if problem:
            return invalid(problem)
        if action == "trigger":
            problem = self._payload_problem(body.get("payload"))
            if problem:
                return invalid(problem)
            dedup = dedup or f"auto-{next(self._numbers)}"
            alert = self.open_alert(dedup)
            if alert is None:
                alert = PagerAlert(next(self._numbers), dedup)
                self.alerts.append(alert)
        else:
            alert = self.open_alert(str(dedup))
            if alert is not None:  # no open alert: PagerDuty drops the event
                alert.status = "resolved" if action == "resolve" else "acknowledged"
        if alert is not None:
            alert.events.append(body)
            alert.received_at.append(time.time())
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup}, status=202
        )

    @staticmethod
    def _payload_problem(payload: Any) -> str | None:
        if not isinstance(payload, dict):
            return "'payload' is required to trigger"
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            return "'payload.summary' is required and at most 1024 characters"
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            return "'payload.source' is required"
        if payload.get("severity") not in SEVERITIES:
            return "'payload.severity' is invalid (must be one of critical, error, warning, info)"
        if "timestamp" in payload and not _is_timestamp(payload["timestamp"]):
            return "'payload.timestamp' is not an ISO 8601 timestamp"
        for key in ("component", "group", "class"):
            if key in payload and not isinstance(payload[key], str):
                return f"'payload.{key}' must be a string"
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            return "'payload.custom_details' must be an object"
        return None

    async def _change(self, request: web.Request) -> web.Response:
        body = await self._event_body(request)
        if isinstance(body, web.Response):
            return body
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return invalid("'payload' is required")
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            return invalid("'payload.summary' is required and at most 1024 characters")
        if "source" in payload and not isinstance(payload["source"], str):
            return invalid("'payload.source' must be a string")
        if "timestamp" in payload and not _is_timestamp(payload["timestamp"]):
            return invalid("'payload.timestamp' is not an ISO 8601 timestamp")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            return invalid("'payload.custom_details' must be an object")
        if "images" in body:
            return invalid("change events support only 'links'")
        problem = _links_problem(body)
        if problem:
            return invalid(problem)
        self.changes.append(body)
        return web.json_response(
            {"status": "success", "message": "Change event processed"}, status=202
        )
