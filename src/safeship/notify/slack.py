"""The "slack" channel: a notification as a Block Kit message to a Slack incoming webhook.

API: https://api.slack.com/messaging/webhooks (POST JSON {"text", "blocks"} to the webhook URL;
200 with the body "ok"; errors as a status and a short string: 400 invalid_payload, 403
action_prohibited, 404 no_service / channel_not_found, 410 channel_is_archived, 500
rollup_error), https://api.slack.com/docs/rate-limits (one message a second per webhook; 429
with Retry-After) and https://api.slack.com/reference/block-kit/blocks (the limits below).

Decisions:

- The message follows the architecture's notification template: a header with the status and
  its emoji, a section of fields (environment, version, short commit, triggered by, then
  duration, health score, severity, deploy path), the rollback reason and its rule, a link to
  the dashboard when the alert has one. A grouped notification lists its other alerts below a
  divider, several to a section, one line each.
- Block Kit's limits are enforced here, not left to Slack's 400 invalid_blocks: header text 150
  characters, section text 3,000, a field 2,000, 10 fields to a section, 50 blocks to a
  message. A long text is cut with "…"; alerts that do not fit are counted ("…and 12 more").
  ``text`` (the notification's fallback) is always set.
- Texts are escaped as Slack asks: &, <, > are its control characters in mrkdwn.
- The webhook URL is a credential (whoever has it can post to the channel): it is read from the
  variable named by ``webhook_env``, registered as a secret, and never printed.
- One attempt per ``send`` (``safeship.notify.http_delivery``); ``min_interval`` = 1 s keeps to
  Slack's one message a second per webhook.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, ClassVar, TextIO

from safeship.notify.base import EVERYTHING, Alert, Notification, RouteDefaults
from safeship.notify.presentation import facts, heading, rollback_text
from safeship.notify.settings import SlackSettings
from safeship.redaction import redact_data, register_secret

# https://api.slack.com/reference/block-kit/blocks
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000  # the message's "text": Slack truncates far longer; a notification line


def escape(text: str) -> str:
    """Slack's escaping of mrkdwn text: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, str]:
    return {"type": "mrkdwn", "text": cut(text, limit)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _title(notification: Notification) -> str:
    lead = notification.lead
    more = len(notification.alerts) - 1
    extra = f" (+{more} more)" if more else ""
    return f"{heading(lead)} · {lead.environment}{extra}"


def fallback_text(notification: Notification) -> str:
    """The message's ``text``: what a phone notification or a screen reader shows."""
    lead = notification.lead
    return cut(escape(f"{_title(notification)}: {lead.summary}"), MAX_FALLBACK)


def _lead_blocks(alert: Alert) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [_section(escape(alert.summary))]
    fields = [
        _mrkdwn(f"*{label}:*\n{escape(value)}", MAX_FIELD_TEXT) for label, value in facts(alert)
    ]
    fields += [
        _mrkdwn(f"*{escape(name)}:*\n{escape(value)}", MAX_FIELD_TEXT)
        for name, value in alert.details.items()
    ]
    for start in range(0, len(fields), MAX_FIELDS):
        blocks.append({"type": "section", "fields": fields[start : start + MAX_FIELDS]})
    reason = rollback_text(alert)
    if reason:
        blocks.append(_section(f"*Rollback reason:*\n{escape(reason)}"))
    url = alert.dashboard_url
    if url and url.startswith(("https://", "http://")):
        # In a link the URL is escaped too (an & in a query string), and a | would end it.
        target = escape(url).replace("|", "%7C")
        blocks.append(_section(cut(f"<{target}|Open the deployment>", MAX_SECTION_TEXT)))
    return blocks


def _alert_line(alert: Alert) -> str:
    when = alert.occurred_at.strftime("%H:%M:%S")
    return f"• {heading(alert)} — {escape(alert.summary)} _({when})_"


def _others_blocks(others: list[Alert], room: int) -> list[dict[str, Any]]:
    """The other alerts of a group, one line each, packed into sections of up to 3,000
    characters, in at most ``room`` blocks (the last says how many did not fit)."""
    blocks: list[dict[str, Any]] = []
    lines: list[str] = []
    size = 0
    shown = 0
    for alert in others:
        line = cut(_alert_line(alert), MAX_SECTION_TEXT)
        if lines and size + len(line) + 1 > MAX_SECTION_TEXT:
            if len(blocks) == room - 2:  # keep one block for these lines, one for the count
                break
            blocks.append(_section("\n".join(lines)))
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
        shown += 1
    if lines:
        blocks.append(_section("\n".join(lines)))
    if shown < len(others):
        more = len(others) - shown
        blocks.append({"type": "context", "elements": [_mrkdwn(f"…and {more} more")]})
    return blocks


def message(notification: Notification) -> dict[str, Any]:
    """The Block Kit payload for ``notification``: the lead alert in full, the others (a
    grouped burst) one line each, within Slack's limits."""
    lead = notification.lead
    header = {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": cut(_title(notification), MAX_HEADER),
            "emoji": True,
        },
    }
    blocks: list[dict[str, Any]] = [header, *_lead_blocks(lead)]
    blocks = blocks[: MAX_BLOCKS - 3]  # room for a divider and the others, whatever the details
    others = [a for a in notification.alerts if a is not lead]
    if others:
        blocks.append({"type": "divider"})
        blocks += _others_blocks(others, MAX_BLOCKS - len(blocks))
    payload = {"text": fallback_text(notification), "blocks": blocks}
    result: dict[str, Any] = redact_data(payload)
    return result


class SlackNotifier:
    """The "slack" channel (``safeship.notify.base.Notifier``), configured by
    ``[notify.slack]``."""

    min_interval: ClassVar[float] = 1.0
    default_route: ClassVar[RouteDefaults] = EVERYTHING

    @classmethod
    def configured(
        cls, settings: SlackSettings, errors: TextIO | None = None
    ) -> SlackNotifier | None:
        """The channel, or None (with one warning line) when its variable is unset or is not
        a URL."""
        url = os.environ.get(settings.webhook_env, "").strip()
        stream = errors or sys.stderr
        if not url:
            print(
                f"safeship: warning: [notify.slack] is configured but {settings.webhook_env} is "
                "not set; no Slack notifications",
                file=stream,
            )
            return None
        if not url.startswith(("https://", "http://")):
            print(
                f"safeship: warning: {settings.webhook_env} is not a webhook URL; no Slack "
                "notifications",
                file=stream,
            )
            return None
        return cls(url, timeout=settings.request_timeout)

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        import httpx

        from safeship.notify.http_delivery import http_client

        register_secret(url)
        register_secret(httpx.URL(url).raw_path.decode(errors="replace"))
        self._url = url
        self._client = http_client(timeout)

    def send(self, notification: Notification) -> None:
        from safeship.notify.http_delivery import post_once

        body = json.dumps(message(notification), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "safeship"}
        post_once(self._client, self._url, service="slack", content=body, headers=headers)

    def close(self) -> None:
        self._client.close()
