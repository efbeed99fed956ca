"""The "webhook" channel: each alert as a CloudEvents 1.0 JSON document, POSTed to a URL.

Specs: CloudEvents 1.0.2 (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md;
the JSON format and its batch: formats/json-format.md; structured mode over HTTP:
bindings/http-protocol-binding.md §3.2, ``Content-Type: application/cloudevents+json``, and
§3.3 batched mode, ``application/cloudevents-batch+json``) and CDEvents v0.4.1
(https://github.com/cdevents/spec/blob/v0.4.1/continuous-deployment.md: service deployed and
rolledback, event types ``dev.cdevents.service.deployed.0.2.0`` and
``dev.cdevents.service.rolledback.0.2.0``; the CloudEvents binding in cloudevents-binding.md).

Decisions:

- One CloudEvent per alert, its ``id`` the alert's outbox id (the same on every retry, across
  processes: receivers drop duplicates by it, as CloudEvents asks of source + id). A
  notification of one alert is sent in structured mode; a grouped notification (several
  alerts) as one batch, a JSON array of the same documents.
- ``source`` is ``/safeship/<environment>``; ``subject`` the condition
  (``rollback.triggered``), so a receiver can route without parsing ``type``;
  ``datacontenttype`` ``application/json``.
- ``type``: a CDEvents type where one fits: a deployment that succeeded is
  ``service.deployed``, one that was rolled back (``deployment.failed`` with status
  ``rolled_back``) is ``service.rolledback``. Their ``data`` is the CDEvent (context, subject
  with the environment and the artifact's purl, ``pkg:generic/<service>@<version>``), with the
  alert's fields as its ``customData``. Every other alert is
  ``dev.safeship.alert.<condition>.<state>`` and its ``data`` is the alert's fields.
- The URL may carry a token: it is read from ``url_env``, registered as a secret, never
  printed. With ``secret_env`` each body is signed: ``X-Safeship-Signature: sha256=<hex>``, the
  HMAC-SHA256 of the exact body bytes with the secret as key (GitHub's webhook scheme), to be
  compared in constant time by the receiver.
- One attempt per ``send`` (``safeship.notify.http_delivery``); the alerts core retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from dataclasses import asdict
from typing import Any, ClassVar, TextIO
from urllib.parse import quote

from safeship.notify.base import EVERYTHING, Alert, Notification, RouteDefaults
from safeship.notify.settings import WebhookSettings
from safeship.redaction import redact_data, register_secret

SPECVERSION = "1.0"
CDEVENTS_VERSION = "0.4.1"
SERVICE_DEPLOYED = "dev.cdevents.service.deployed.0.2.0"
SERVICE_ROLLEDBACK = "dev.cdevents.service.rolledback.0.2.0"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
SIGNATURE_HEADER = "X-Safeship-Signature"


def event_type(alert: Alert) -> str:
    if alert.state == "firing" and alert.condition == "deployment.succeeded":
        return SERVICE_DEPLOYED
    rolled_back = alert.condition == "deployment.failed" and alert.status == "rolled_back"
    if alert.state == "firing" and rolled_back:
        return SERVICE_ROLLEDBACK
    return f"dev.safeship.alert.{alert.condition}.{alert.state}"


def source(environment: str) -> str:
    return f"/safeship/{quote(environment, safe='')}"


def _time(alert: Alert) -> str:
    return alert.occurred_at.isoformat().replace("+00:00", "Z")


def alert_fields(alert: Alert) -> dict[str, Any]:
    """Every field of ``alert`` under its own name (unknown ones as null), and its key."""
    fields = asdict(alert)
    return {
        "id": fields.pop("id"),
        "key": alert.key,
        **fields,
        "occurred_at": _time(alert),
        "details": dict(alert.details),
    }


def artifact_purl(service: str, version: str | None) -> str:
    """The deployed artifact as a package URL (https://github.com/package-url/purl-spec):
    ``pkg:generic/<service>@<version>``."""
    name = quote(service, safe="")
    return f"pkg:generic/{name}@{quote(version, safe='')}" if version else f"pkg:generic/{name}"


def _cdevent(alert: Alert, kind: str, service: str) -> dict[str, Any]:
    where = source(alert.environment)
    return {
        "context": {
            "version": CDEVENTS_VERSION,
            "id": alert.id,
            "source": where,
            "type": kind,
            "timestamp": _time(alert),
        },
        "subject": {
            "id": f"{alert.environment}/{service}",
            "source": where,
            "type": "service",
            "content": {
                "environment": {"id": alert.environment, "source": where},
                "artifactId": artifact_purl(service, alert.version),
            },
        },
        "customData": alert_fields(alert),
        "customDataContentType": "application/json",
    }


def cloud_event(alert: Alert, service: str = "app") -> dict[str, Any]:
    """The CloudEvent (JSON format) for one alert."""
    kind = event_type(alert)
    data = alert_fields(alert) if not kind.startswith("dev.cdevents.") else None
    document = {
        "specversion": SPECVERSION,
        "id": alert.id,
        "source": source(alert.environment),
        "type": kind,
        "subject": alert.condition,
        "time": _time(alert),
        "datacontenttype": "application/json",
        "data": data if data is not None else _cdevent(alert, kind, service),
    }
    result: dict[str, Any] = redact_data(document)
    return result


def body(notification: Notification, service: str = "app") -> tuple[bytes, str]:
    """(the body, its content type): one alert in structured mode, several as a batch."""
    events = [cloud_event(alert, service) for alert in notification.alerts]
    if len(events) == 1:
        return json.dumps(events[0], ensure_ascii=False).encode(), STRUCTURED
    return json.dumps(events, ensure_ascii=False).encode(), BATCH


def signature(secret: str, content: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``content`` keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """The "webhook" channel (``safeship.notify.base.Notifier``), configured by
    ``[notify.webhook]``."""

    min_interval: ClassVar[float] = 0.0
    default_route: ClassVar[RouteDefaults] = EVERYTHING

    @classmethod
    def configured(
        cls, settings: WebhookSettings, errors: TextIO | None = None
    ) -> WebhookNotifier | None:
        """The channel, or None (with one warning line) when a variable it needs is unset."""
        stream = errors or sys.stderr
        url = os.environ.get(settings.url_env, "").strip()
        if not url.startswith(("https://", "http://")):
            why = "is not set" if not url else "is not an http(s) URL"
            print(
                f"safeship: warning: [notify.webhook] is configured but {settings.url_env} {why}; "
                "no webhook notifications",
                file=stream,
            )
            return None
        secret: str | None = None
        if settings.secret_env:
            secret = os.environ.get(settings.secret_env, "")
            if not secret:
                print(
                    f"safeship: warning: [notify.webhook] signs with {settings.secret_env}, which "
                    "is not set; no webhook notifications",
                    file=stream,
                )
                return None
        return cls(url, service=settings.service, secret=secret, timeout=settings.request_timeout)

    def __init__(
        self, url: str, *, service: str = "app", secret: str | None = None, timeout: float = 5.0
    ) -> None:
        from safeship.notify.http_delivery import http_client

        register_secret(url)
        register_secret(secret)
        self._url = url
        self._service = service
        self._secret = secret
        self._client = http_client(timeout)

    def send(self, notification: Notification) -> None:
        from safeship.notify.http_delivery import post_once

        content, content_type = body(notification, self._service)
        headers = {"Content-Type": f"{content_type}; charset=utf-8", "User-Agent": "safeship"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, content)
        post_once(self._client, self._url, service="webhook", content=content, headers=headers)

    def close(self) -> None:
        self._client.close()
