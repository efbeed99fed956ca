"""A loopback receiver of CloudEvents over HTTP, for the "webhook" channel.

Checks written from the specifications, not recorded from a live receiver:
- https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md (context attributes:
  required ``id``, ``source``, ``specversion`` "1.0", ``type``, each a non-empty string;
  optional ``datacontenttype``, ``dataschema``, ``subject`` (non-empty), ``time`` (RFC 3339);
  attribute names lower-case ASCII letters and digits; source + id identify an event, so a
  consumer may drop a duplicate)
- https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md (an
  event is a JSON object; ``data`` and ``data_base64`` are mutually exclusive; a batch is a
  JSON array of events, media type ``application/cloudevents-batch+json``)
- https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
  (§3.2 structured mode: ``Content-Type: application/cloudevents+json``; §3.3 batched mode)
- https://github.com/cdevents/spec/blob/v0.4.1/spec.md and continuous-deployment.md (a CDEvent:
  ``context`` with version, id, source, type, timestamp; ``subject`` with id, type and
  ``content``; a service event's content has ``environment.id`` and ``artifactId``)

A signed body (``X-Safeship-Signature: sha256=<hex>``, HMAC-SHA256 of the body) is checked when
the server is given the secret: a wrong or missing signature is 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import datetime
from typing import Any

from aiohttp import web
from loopback import ContractServer

_NAME = re.compile(r"^[a-z0-9]+$")
REQUIRED = ("id", "source", "specversion", "type")


def cloudevent_problem(event: Any) -> str | None:
    """What makes ``event`` an invalid CloudEvent 1.0 in the JSON format, or None."""
    if not isinstance(event, dict):
        return "an event must be a JSON object"
    for name in REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            return f"{name} is required and must be a non-empty string"
    if event["specversion"] != "1.0":
        return f"specversion {event['specversion']!r} is not 1.0"
    for name in event:
        if name not in ("data", "data_base64") and not _NAME.match(name):
            return f"attribute name {name!r} is not lower-case letters and digits"
    if "data" in event and "data_base64" in event:
        return "data and data_base64 are mutually exclusive"
    if "subject" in event and (not isinstance(event["subject"], str) or not event["subject"]):
        return "subject must be a non-empty string"
    if "time" in event:
        try:
            stamp = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        except ValueError:
            return "time is not an RFC 3339 timestamp"
        if stamp.tzinfo is None:
            return "time has no offset (RFC 3339 requires one)"
    if event.get("type", "").startswith("dev.cdevents."):
        return cdevent_problem(event.get("data"))
    return None


def cdevent_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "a CDEvent's data must be an object"
    context, subject = data.get("context"), data.get("subject")
    if not isinstance(context, dict) or not all(
        isinstance(context.get(k), str) and context.get(k)
        for k in ("version", "id", "source", "type", "timestamp")
    ):
        return "a CDEvent's context needs version, id, source, type and timestamp"
    if not isinstance(subject, dict) or not all(
        isinstance(subject.get(k), str) and subject.get(k) for k in ("id", "type")
    ):
        return "a CDEvent's subject needs id and type"
    content = subject.get("content")
    if not isinstance(content, dict):
        return "a CDEvent's subject needs content"
    environment = content.get("environment")
    if not isinstance(environment, dict) or not environment.get("id"):
        return "a service event's content needs environment.id"
    if not isinstance(content.get("artifactId"), str) or not content["artifactId"]:
        return "a service event's content needs artifactId"
    return None


class WebhookServer(ContractServer):
    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.hook_url = f"{self.url}/hooks/safeship"
        self.secret = secret
        self.events: dict[tuple[str, str], dict[str, Any]] = {}  # by (source, id): deduplicated
        self.received_at: dict[tuple[str, str], float] = {}  # each event's first arrival
        self.deliveries: list[list[dict[str, Any]]] = []  # each accepted request's events
        self.duplicates = 0
        self.rejected: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/safeship", self._post)

    def _reject(self, status: int, why: str) -> web.Response:
        self.rejected.append(why)
        return web.json_response({"error": why}, status=status)

    async def _post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("X-Safeship-Signature", ""), expected):
                return self._reject(401, "bad signature")
        media = request.content_type
        try:
            document = json.loads(raw)
        except ValueError:
            return self._reject(400, "not JSON")
        if media == "application/cloudevents+json":
            events = [document]
        elif media == "application/cloudevents-batch+json":
            if not isinstance(document, list) or not document:
                return self._reject(400, "a batch must be a non-empty JSON array")
            events = document
        else:
            return self._reject(415, f"unsupported media type {media}")
        for event in events:
            problem = cloudevent_problem(event)
            if problem is not None:
                return self._reject(400, problem)
        for event in events:
            key = (event["source"], event["id"])
            if key in self.events:
                self.duplicates += 1
            self.events.setdefault(key, event)
            self.received_at.setdefault(key, time.time())
        self.deliveries.append(events)
        return web.Response(status=202)
