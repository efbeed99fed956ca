"""Alerts to a Slack incoming webhook, from the event bus.

API: https://api.slack.com/messaging/webhooks (POST JSON {"text", "blocks"?} to the webhook URL;
200 with the body "ok"; errors as a status and a short string: 400 invalid_payload, 403
action_prohibited, 404 no_service / channel_not_found, 410 channel_is_archived, 500
rollup_error: https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks)
and https://api.slack.com/docs/rate-limits (about one message a second; 429 with Retry-After).

Decisions:

- The webhook URL is a credential (whoever has it can post to the channel): it is read from the
  variable named by ``webhook_env``, registered as a secret, and never printed.
- Like the GitHub sink, ``handle`` only queues (``safeship.notify.worker``): a slow or failing
  Slack never delays or fails a deploy, a failover or a rollback.
- Retries through ``safeship.httpapi``: 429 after its Retry-After (a longer wait than
  ``max_retry_wait`` drops the alert with one warning); a 5xx or a timeout is retried too,
  because a duplicated alert costs less than a lost one. A 4xx is Slack saying the webhook or
  the message is wrong: one warning line, no retry.
- Texts are escaped as Slack asks (&, <, > are control characters in message text).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import httpx

from safeship.events import Event
from safeship.httpapi import JsonApi, RetryPolicy, one_line
from safeship.notify.settings import SlackSettings
from safeship.notify.worker import Worker
from safeship.redaction import redact

MAX_TEXT = 2000  # an alert is a line or two; Slack truncates messages far longer than this


class _WebhookApi(JsonApi):
    """JsonApi for an endpoint that answers plain text ("ok", "invalid_payload")."""

    def _body(self, response: httpx.Response) -> Any:
        status = response.status_code
        text = response.text.strip()
        if status >= 300:
            detail = one_line(text, 100) if text and "<" not in text else "no message"
            raise self._fail(f"HTTP {status}: {detail}", status)
        return text


class SlackWebhook:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        secret_path = httpx.URL(url).raw_path.decode(errors="replace")
        self._api = _WebhookApi(
            "slack",
            {"Content-Type": "application/json", "User-Agent": "safeship"},
            timeout=timeout,
            retry=retry,
            secrets=[url, secret_path],
            sleep=sleep,
        )

    def post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        body: dict[str, Any] = {"text": text}
        if blocks:
            body["blocks"] = blocks
        # idempotent=True: retry a 5xx or a timeout; a duplicated alert beats a lost one.
        self._api.request("POST", self._url, json=body, idempotent=True)

    def close(self) -> None:
        self._api.close()


def escape(text: str) -> str:
    """Slack's escaping of message text: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_text(event: Event) -> str | None:
    """The alert for ``event`` (redacted, one line), or None when it is not an alert.

    A ``path.completed`` is one only when a remote path's run failed: that deploy ran
    elsewhere (a CI job, the platform's build) and has no ``deployment.failed`` of its own here.
    """
    a = event.attributes
    env, version = event.environment, event.version or "?"
    reason = str(a.get("reason") or "no reason given")
    if event.event == "path.failover":
        where = f"failed over to {a['to']}" if a.get("to") else "failed, and no path is left"
        text = f"{env}: deploy path {a.get('from')} {where} (deploying {version}): {reason}"
    elif event.event == "rollback.triggered":
        text = f"{env}: rolling back {version}: {reason}"
    elif event.event == "deployment.failed":
        text = f"{env}: {version} {a.get('status', 'failed')}: {reason}"
    elif event.event == "path.completed":
        if a.get("ok") is not False:
            return None
        detail = a.get("detail") or a.get("conclusion") or "failed"
        text = f"{env}: {version} failed through {a.get('path')} (run {a.get('run_id')}): {detail}"
        if a.get("url"):
            text += f" {a['url']}"
    else:
        text = f"{env}: {event.event} {version}"
    by = f" (triggered by {event.triggered_by})" if event.triggered_by else ""
    return one_line(f"safeship: {text}{by}", MAX_TEXT)


class SlackAlertSink:
    """The "slack" notifier (``safeship.notify.base.Notifier``), configured by
    ``[notify.slack]``."""

    @classmethod
    def configured(
        cls, settings: SlackSettings, errors: TextIO | None = None
    ) -> SlackAlertSink | None:
        return slack_sink(settings, errors)

    def __init__(
        self, webhook: SlackWebhook, events: Iterable[str], errors: TextIO | None = None
    ) -> None:
        self._webhook = webhook
        self._events = frozenset(events)
        self._errors = errors
        self._worker = Worker("slack-alerts", self._warn)

    def wants(self, event: Event) -> bool:
        if event.event in self._events:
            return True
        # A path's run whose deployment ran here (its deployment_id is known) has alerted with
        # its own deployment.failed; one that ran elsewhere has no event but this one.
        a = event.attributes
        remote = event.event == "path.completed" and not a.get("deployment_id")
        return remote and a.get("ok") is False and "deployment.failed" in self._events

    def handle(self, event: Event) -> None:
        if not self.wants(event):
            return
        text = alert_text(event)
        if text is not None:
            self._worker.submit(event.event, lambda: self._webhook.post(escape(text)))

    def close(self, timeout: float = 10.0) -> None:
        self._worker.close(timeout)
        self._webhook.close()

    def _warn(self, message: str) -> None:
        line = one_line(f"safeship: slack alert: {message}", 500)
        print(redact(line), file=self._errors or sys.stderr)


def slack_sink(
    settings: SlackSettings | None, errors: TextIO | None = None
) -> SlackAlertSink | None:
    """The sink for ``[notify.slack]``, or None when there is none or its variable is unset
    (then one warning line says so: a deploy never fails for want of an alert)."""
    if settings is None:
        return None
    url = os.environ.get(settings.webhook_env, "").strip()
    if not url:
        print(
            f"safeship: warning: [notify.slack] is configured but {settings.webhook_env} is not "
            "set; no Slack alerts",
            file=errors or sys.stderr,
        )
        return None
    if not url.startswith(("https://", "http://")):
        print(
            f"safeship: warning: {settings.webhook_env} is not a webhook URL; no Slack alerts",
            file=errors or sys.stderr,
        )
        return None
    webhook = SlackWebhook(
        url,
        timeout=settings.request_timeout,
        retry=RetryPolicy(attempts=settings.retries + 1, max_wait=settings.max_retry_wait),
    )
    return SlackAlertSink(webhook, settings.events, errors)
