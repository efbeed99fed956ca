"""A loopback contract server for Slack incoming webhooks.

Shapes written from Slack's documentation, not recorded from the live API:
- https://api.slack.com/messaging/webhooks (POST JSON to the webhook URL
  https://hooks.slack.com/services/T.../B.../XXXX with "text" and optionally "blocks"; the text
  is the fallback shown in notifications, so it is expected even with blocks. Success is HTTP
  200 with the plain-text body "ok")
- https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks (errors as
  an HTTP status and a short plain-text string: 400 invalid_payload, 400 user_not_found, 403
  action_prohibited, 404 channel_not_found, 410 channel_is_archived, 500 rollup_error)
- 404 no_service for a webhook that is disabled, removed or mistyped: named in Slack's
  webhook error list (https://api.slack.com/messaging/webhooks#handling_errors); only seen here
  through third-party pages quoting it, not Slack's own page. "no_text" (neither text nor
  blocks) is this server's guess at Slack's answer, not verified.
- https://api.slack.com/docs/rate-limits (incoming webhooks: about one message per second, short
  bursts allowed; over the limit, HTTP 429 with a Retry-After header in seconds)
- https://api.slack.com/reference/surfaces/formatting#escaping (&, <, > escaped in text)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from loopback import ContractServer

TEAM, CHANNEL = "T0SAFESHIP", "B0ALERTS"
SECRET = "Zq7Xw3Lk9Mv2Np5Rt8Ys1Bh4"  # the secret part of the webhook URL


@dataclass
class Message:
    text: str
    blocks: Any = None


class SlackServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.webhook_url = f"{self.url}/services/{TEAM}/{CHANNEL}/{SECRET}"
        self.messages: list[Message] = []
        self.rate_limit_next = 0  # answer this many posts with 429 and Retry-After
        self.retry_after = 1

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/services/{team}/{channel}/{secret}", self._post)

    @staticmethod
    def _text(body: str, status: int) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/plain")

    async def _post(self, request: web.Request) -> web.Response:
        info = request.match_info
        if (info["team"], info["channel"], info["secret"]) != (TEAM, CHANNEL, SECRET):
            return self._text("no_service", 404)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.Response(
                text="rate_limited",
                status=429,
                content_type="text/plain",
                headers={"Retry-After": str(self.retry_after)},
            )
        if not request.content_type.startswith("application/json"):
            return self._text("invalid_payload", 400)
        try:
            body = await request.json()
        except ValueError:
            return self._text("invalid_payload", 400)
        if not isinstance(body, dict):
            return self._text("invalid_payload", 400)
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return self._text("no_text", 400)
        if (text is not None and not isinstance(text, str)) or (
            blocks is not None and not isinstance(blocks, list)
        ):
            return self._text("invalid_payload", 400)
        self.messages.append(Message(text or "", blocks))
        return self._text("ok", 200)
